-- One row per health team of a municipal PEC.
with

source as (

    select * from {{ source('raw_esus', 'tb_dim_equipe') }}

),

renamed as (

    select
        co_seq_dim_equipe::bigint  as id_equipe,
        id_municipio::text         as id_municipio,
        trim(nu_ine)::text         as id_equipe_ine,
        trim(no_equipe)::text      as nome_equipe,
        _carregado_em::timestamptz as data_hora_carga

    from source

)

select * from renamed
