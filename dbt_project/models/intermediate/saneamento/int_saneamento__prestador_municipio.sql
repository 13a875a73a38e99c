-- SNIS providers with the 7-digit IBGE code of their head-office municipality. SNIS exports the
-- 6-digit code (without the check digit); its first 6 digits identify one of the 5,571 IBGE
-- municipalities (unique test on stg_ibge__municipios), so the join cannot fan out.
with

prestadores as (

    select * from {{ ref('stg_snis__agua_esgoto_agregado') }}

),

municipios as (

    select
        id_municipio,
        left(id_municipio, 6) as id_municipio_6

    from {{ ref('stg_ibge__municipios') }}

),

joined as (

    select
        municipios.id_municipio,
        prestadores.*

    from prestadores
    left join municipios
        on prestadores.id_municipio_6 = municipios.id_municipio_6

)

-- AM04 (unknown column count): every staging column of the provider passes through on purpose
select * from joined  -- noqa: AM04
