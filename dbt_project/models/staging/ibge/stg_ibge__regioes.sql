-- The five macro-regions of Brazil.
with

source as (

    select * from {{ source('raw_ibge', 'regioes') }}

),

renamed as (

    select
        id::text    as id_regiao,
        sigla::text as sigla_regiao,
        nome::text  as nome_regiao

    from source

)

select * from renamed
