-- One row per Brazilian municipality (IBGE), with its UF, macro-region and both regional divisions.
with

municipios as (

    select * from {{ ref('stg_ibge__municipios') }}

),

estados as (

    select * from {{ ref('stg_ibge__estados') }}

),

regioes as (

    select * from {{ ref('stg_ibge__regioes') }}

),

final as (

    select
        municipios.id_municipio,
        municipios.nome,
        municipios.id_uf,
        estados.sigla_uf,
        estados.nome_uf,
        estados.id_regiao,
        regioes.sigla_regiao,
        regioes.nome_regiao,
        municipios.id_regiao_intermediaria,
        municipios.nome_regiao_intermediaria,
        municipios.id_regiao_imediata,
        municipios.nome_regiao_imediata,
        municipios.id_mesorregiao,
        municipios.nome_mesorregiao,
        municipios.id_microrregiao,
        municipios.nome_microrregiao

    from municipios
    left join estados
        on municipios.id_uf = estados.id_uf
    left join regioes
        on estados.id_regiao = regioes.id_regiao

)

select * from final
