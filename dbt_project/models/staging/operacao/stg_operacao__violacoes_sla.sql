-- SLA breaches as recorded by the Dagster checks sla_<processo>: one row per process and reference.
with

source as (

    select * from {{ source('operacao', 'violacoes_sla') }}

),

renamed as (

    select
        id_violacao::text                    as id_violacao,
        processo::text                       as processo,
        tipo::text                           as tipo,
        referencia::text                     as referencia,
        limite_segundos::double precision    as limite_segundos,
        observado_segundos::double precision as observado_segundos,
        excesso_segundos::double precision   as excesso_segundos,
        inicio::timestamptz                  as inicio,
        fim::timestamptz                     as fim,
        detectada_em::timestamptz            as detectada_em,
        atualizada_em::timestamptz           as atualizada_em,
        fim is null                          as em_andamento

    from source

)

select * from renamed
