-- One row per occupation (CBO 2002) used in a municipal PEC.
with

source as (

    select * from {{ source('raw_esus', 'tb_dim_cbo') }}

),

renamed as (

    select
        co_seq_dim_cbo::bigint     as id_cbo,
        id_municipio::text         as id_municipio,
        trim(nu_cbo)::text         as cbo_2002,
        trim(no_cbo)::text         as descricao_cbo,
        _carregado_em::timestamptz as data_hora_carga

    from source

)

select * from renamed
