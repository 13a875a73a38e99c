-- Every national sum of agg_saneamento_brasil_ano must equal the footer total ("TOTAL da AMOSTRA")
-- that SNIS printed in the year's most complete export (the file with most loaded rows). Returns one
-- row per (ano, column) that differs or has no footer total to compare with.
-- The column -> SNIS code mapping comes from macros/saneamento.sql, independent of the staging rename.
with

brasil as (

    select * from {{ ref('agg_saneamento_brasil_ano') }}

),

totais_mart as (

    {% for coluna, (codigo_snis, tipo) in saneamento_colunas_somadas().items() %}
    select
        ano,
        '{{ coluna }}' as coluna,
        '{{ codigo_snis }}' as codigo_snis,
        {{ coluna }}::numeric(38, 2) as total_mart
    from brasil
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

reconciliacao as (

    select * from {{ ref('stg_snis__reconciliacao') }}

),

arquivo_mais_completo as (

    select distinct on (ano)
        ano,
        nome_arquivo
    from reconciliacao
    order by ano, quantidade_linhas_carregadas desc, nome_arquivo

),

rodape as (

    select
        reconciliacao.ano,
        reconciliacao.nome_arquivo,
        reconciliacao.codigo_snis,
        reconciliacao.valor_rodape
    from reconciliacao
    inner join arquivo_mais_completo
        on reconciliacao.ano = arquivo_mais_completo.ano
        and reconciliacao.nome_arquivo = arquivo_mais_completo.nome_arquivo

)

select
    totais_mart.ano,
    totais_mart.coluna,
    totais_mart.codigo_snis,
    rodape.nome_arquivo,
    totais_mart.total_mart,
    rodape.valor_rodape,
    totais_mart.total_mart - rodape.valor_rodape as diferenca
from totais_mart
left join rodape
    on totais_mart.ano = rodape.ano
    and totais_mart.codigo_snis = rodape.codigo_snis
where rodape.codigo_snis is null
    or coalesce(totais_mart.total_mart, 0) <> coalesce(rodape.valor_rodape, 0)
