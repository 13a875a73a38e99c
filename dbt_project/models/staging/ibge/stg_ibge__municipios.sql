-- Brazil's municipalities with both regional hierarchies. The UF is read through the current one
-- (regiao imediata > intermediaria > UF), which every municipality has, falling back to the old one
-- (microrregiao > mesorregiao > UF), which municipalities created after it (5101837) lack.
with

source as (

    select * from {{ source('raw_ibge', 'municipios') }}

),

renamed as (

    select
        id::text                                          as id_municipio,
        nome::text                                        as nome,
        microrregiao__id::text                            as id_microrregiao,
        microrregiao__nome::text                          as nome_microrregiao,
        microrregiao__mesorregiao__id::text               as id_mesorregiao,
        microrregiao__mesorregiao__nome::text             as nome_mesorregiao,
        regiao_imediata__id::text                         as id_regiao_imediata,
        regiao_imediata__nome::text                       as nome_regiao_imediata,
        regiao_imediata__regiao_intermediaria__id::text   as id_regiao_intermediaria,
        regiao_imediata__regiao_intermediaria__nome::text as nome_regiao_intermediaria,
        coalesce(
            regiao_imediata__regiao_intermediaria__uf__id,
            microrregiao__mesorregiao__uf__id
        )::text                                           as id_uf

    from source

)

select * from renamed
