-- Per loaded file and SNIS column: the file's own footer total against the sum of its loaded rows.
with

source as (

    select * from {{ source('raw_snis', 'reconciliacao') }}

),

renamed as (

    select
        arquivo::text                  as nome_arquivo,
        ano::integer                   as ano,
        lower(coluna)::text            as codigo_snis,
        valor_rodape::numeric(38, 2)   as valor_rodape,
        soma_carregada::numeric(38, 2) as soma_carregada,
        diferenca::numeric(38, 2)      as diferenca,
        linhas_carregadas::integer     as quantidade_linhas_carregadas,
        linhas_quarentena::integer     as quantidade_linhas_quarentena,
        status::text                   as status

    from source

)

select * from renamed
