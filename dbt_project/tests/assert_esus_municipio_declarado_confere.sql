-- Every PEC database pulled is the municipality the registry says it is: the IBGE code the PEC
-- records for itself equals the id_municipio the loader tagged its rows with. A mismatch means a
-- wrong connection string in loaders/esus/municipios.toml (one municipality's data under another's
-- code). One row per mismatch.
select
    id_municipio,
    id_municipio_declarado,
    nome_municipio
from {{ ref('stg_esus__municipio') }}
where id_municipio_declarado is distinct from id_municipio
