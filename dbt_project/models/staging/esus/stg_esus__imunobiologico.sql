-- One row per immunobiological (vaccine) of a municipal PEC.
with

source as (

    select * from {{ source('raw_esus', 'tb_dim_imunobiologico') }}

),

renamed as (

    select
        co_seq_dim_imunobiologico::bigint as id_imunobiologico,
        id_municipio::text                as id_municipio,
        trim(sg_imunobiologico)::text     as sigla_imunobiologico,
        trim(no_imunobiologico)::text     as nome_imunobiologico

    from source

)

select * from renamed
