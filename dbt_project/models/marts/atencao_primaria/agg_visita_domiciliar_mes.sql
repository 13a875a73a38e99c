-- Home visits by community agents per municipality and month.
with

visitas as (

    select * from {{ ref('stg_esus__visita_domiciliar') }}

),

final as (

    select
        id_municipio,
        extract(year from data_visita)::integer  as ano,
        extract(month from data_visita)::integer as mes,
        count(*)::bigint                         as qt_visitas,
        count(distinct id_pessoa_hash)::bigint   as qt_pessoas_visitadas

    from visitas
    group by id_municipio, ano, mes

)

select * from final
