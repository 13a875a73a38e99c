-- Care records per municipality and day, by kind: individual care, vaccination records and home
-- visits (the contacts of primary care with people). Only days with at least one record appear.
-- Basis of the day-on-day volume and of the lateness of each municipality.
with

registros as (

    select
        id_municipio,
        data_atendimento         as data,
        'atendimento_individual' as tipo
    from {{ ref('stg_esus__atendimento_individual') }}

    union all

    select
        id_municipio,
        data_vacinacao as data,
        'vacinacao'    as tipo
    from {{ ref('stg_esus__vacinacao') }}

    union all

    select
        id_municipio,
        data_visita         as data,
        'visita_domiciliar' as tipo
    from {{ ref('stg_esus__visita_domiciliar') }}

),

final as (

    select
        id_municipio,
        data,
        count(*) filter (where tipo = 'atendimento_individual') as qt_atendimentos_individuais,
        count(*) filter (where tipo = 'vacinacao')              as qt_vacinacoes,
        count(*) filter (where tipo = 'visita_domiciliar')      as qt_visitas_domiciliares,
        count(*)                                                as qt_registros

    from registros
    group by id_municipio, data

)

select * from final
