-- People registered in each municipality's territory (active individual registration forms) and
-- people known to its PEC, counted once each by their person key.
with

cadastros as (

    select * from {{ ref('stg_esus__cadastro_individual') }}

),

cidadaos as (

    select * from {{ ref('stg_esus__cidadao') }}

),

cadastros_validos as (

    -- an inactive form was replaced or deleted; a refusal registers nobody
    select *
    from cadastros
    where not coalesce(ficha_inativa, false)
        and not coalesce(recusa_cadastro, false)

),

por_cadastro as (

    select
        id_municipio,
        count(distinct id_pessoa_hash)::bigint        as qt_cidadaos,
        count(distinct id_cidadao_pec)
        filter (where id_pessoa_hash is null)::bigint as qt_cidadaos_sem_documento,
        count(*)::bigint                              as qt_fichas_cadastro_ativas

    from cadastros_validos
    group by id_municipio

),

por_pec as (

    select
        id_municipio,
        count(distinct id_pessoa_hash)
        filter (where not coalesce(faleceu, false))::bigint as qt_cidadaos_pec

    from cidadaos
    group by id_municipio

),

municipios as (

    select id_municipio from cadastros
    union
    select id_municipio from cidadaos

),

final as (

    select
        municipios.id_municipio,
        coalesce(por_cadastro.qt_cidadaos, 0)               as qt_cidadaos,
        coalesce(por_cadastro.qt_cidadaos_sem_documento, 0) as qt_cidadaos_sem_documento,
        coalesce(por_cadastro.qt_fichas_cadastro_ativas, 0) as qt_fichas_cadastro_ativas,
        coalesce(por_pec.qt_cidadaos_pec, 0)                as qt_cidadaos_pec

    from municipios
    left join por_cadastro
        on municipios.id_municipio = por_cadastro.id_municipio
    left join por_pec
        on municipios.id_municipio = por_pec.id_municipio

)

select * from final
