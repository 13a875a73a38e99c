-- One row per health unit (establishment) of a municipal PEC.
with

source as (

    select * from {{ source('raw_esus', 'tb_dim_unidade_saude') }}

),

renamed as (

    select
        co_seq_dim_unidade_saude::bigint as id_unidade_saude,
        id_municipio::text               as id_municipio,
        trim(nu_cnes)::text              as id_estabelecimento_cnes,
        trim(no_unidade_saude)::text     as nome_unidade_saude,
        _carregado_em::timestamptz       as data_hora_carga

    from source

)

select * from renamed
