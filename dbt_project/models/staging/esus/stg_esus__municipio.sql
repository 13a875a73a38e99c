-- The municipality a PEC database declares itself to be (one row per database).
with

source as (

    select * from {{ source('raw_esus', 'tb_dim_municipio') }}

),

renamed as (

    select
        co_seq_dim_municipio::bigint as id_municipio_pec,
        id_municipio::text           as id_municipio,
        trim(co_ibge)::text          as id_municipio_declarado,
        trim(no_municipio)::text     as nome_municipio

    from source

)

select * from renamed
