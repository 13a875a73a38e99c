-- One row per day of a municipal PEC's time dimension.
with

source as (

    select * from {{ source('raw_esus', 'tb_dim_tempo') }}

),

renamed as (

    select
        co_seq_dim_tempo::bigint as id_tempo,
        id_municipio::text       as id_municipio,
        dt_registro::date        as data,
        nu_dia::integer          as dia,
        nu_mes::integer          as mes,
        nu_ano::integer          as ano

    from source

)

select * from renamed
