-- The UF that SNIS gives for a provider must be the IBGE UF of the head-office municipality the
-- 6 -> 7 digit mapping found for it: a mismatch means a wrong mapping or a wrong SNIS code.
select
    fct.ano,
    fct.id_prestador,
    fct.id_municipio,
    fct.sigla_uf as sigla_uf_snis,
    dim.sigla_uf as sigla_uf_ibge
from {{ ref('fct_saneamento_prestador_ano') }} as fct
inner join {{ ref('dim_municipio') }} as dim
    on fct.id_municipio = dim.id_municipio
where fct.sigla_uf <> dim.sigla_uf
