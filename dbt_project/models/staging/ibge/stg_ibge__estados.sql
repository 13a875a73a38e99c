-- The 27 federative units (26 states and the Federal District).
with

source as (

    select * from {{ source('raw_ibge', 'estados') }}

),

renamed as (

    select
        id::text         as id_uf,
        sigla::text      as sigla_uf,
        nome::text       as nome_uf,
        regiao__id::text as id_regiao

    from source

)

select * from renamed
