-- fct_atendimento_individual_diario counts every individual care record once: per municipality,
-- the sum of qt_atendimentos equals the records in staging (a duplicated dimension row would
-- multiply them in the joins; a record lost in the incremental window would lower it).
-- meta.dagster.ref: a check of the mart in Dagster (a test with two parents is otherwise none).
{{ config(meta={'dagster': {'ref': {'name': 'fct_atendimento_individual_diario'}}}) }}

with

mart as (

    select id_municipio, sum(qt_atendimentos) as qt_atendimentos
    from {{ ref('fct_atendimento_individual_diario') }}
    group by id_municipio

),

staging as (

    select id_municipio, count(*) as qt_atendimentos
    from {{ ref('stg_esus__atendimento_individual') }}
    group by id_municipio

)

select
    coalesce(mart.id_municipio, staging.id_municipio) as id_municipio,
    mart.qt_atendimentos                               as qt_atendimentos_mart,
    staging.qt_atendimentos                            as qt_atendimentos_staging
from mart
full join staging
    on mart.id_municipio = staging.id_municipio
where mart.qt_atendimentos is distinct from staging.qt_atendimentos
