-- One row per vaccine dose given (a vaccination record has one or more doses).
with

source as (

    select * from {{ source('raw_esus', 'tb_fat_vacinacao_vacina') }}

),

renamed as (

    select
        -- keys
        co_seq_fat_vacinacao_vacina::bigint      as id_vacinacao_dose,
        id_municipio::text                       as id_municipio,
        co_fat_vacinacao::bigint                 as id_vacinacao,

        -- when
        {{ esus_data_de_tempo('co_dim_tempo') }} as data_vacinacao,

        -- what, where
        co_dim_imunobiologico::bigint            as id_imunobiologico,
        co_dim_dose_imunobiologico::bigint       as id_dose_imunobiologico,
        co_dim_unidade_saude::bigint             as id_unidade_saude,
        co_dim_equipe::bigint                    as id_equipe

    from source

)

select * from renamed
