-- One row per loader run, municipality and PEC table (the run log written by loaders/esus/pull.py).
with

source as (

    select * from {{ source('raw_esus', 'execucoes') }}

),

renamed as (

    select
        id_execucao::text                                   as id_execucao,
        id_municipio::text                                  as id_municipio,
        tabela::text                                        as tabela,
        inicio::timestamptz                                 as data_hora_inicio,
        fim::timestamptz                                    as data_hora_fim,
        linhas::bigint                                      as quantidade_linhas,
        cursor_antes::bigint                                as cursor_antes,
        cursor_depois::bigint                               as cursor_depois,
        status::text                                        as status,
        tipo_erro::text                                     as tipo_erro,
        erro::text                                          as erro,
        tentativas::integer                                 as tentativas,
        modo::text                                          as modo

    from source

)

select * from renamed
