-- One row per loaded SNIS export file.
with

source as (

    select * from {{ source('raw_snis', 'arquivos') }}

),

renamed as (

    select
        arquivo::text                      as nome_arquivo,
        ano::integer                       as ano,
        sha256::text                       as sha256,
        codificacao::text                  as codificacao,
        linhas_lidas::integer              as quantidade_linhas_lidas,
        linhas_carregadas::integer         as quantidade_linhas_carregadas,
        linhas_quarentena::integer         as quantidade_linhas_quarentena,
        nullif(colunas_novas, '')::text    as colunas_novas,
        nullif(colunas_ausentes, '')::text as colunas_ausentes,
        carregado_em

    from source

)

select * from renamed
