-- The income statement and the indicators tell one story: per month, agg_dre_mes's gross revenue
-- is agg_indicadores_financeiros_mes's receita, its net result is the indicators' resultado, the
-- subtotals are the sums of the lines above them, and the month's expenses are the negative lines.
{{ config(meta={'dagster': {'ref': {'name': 'agg_dre_mes'}}}) }}

with

dre as (

    select
        mes,
        max(valor) filter (where linha = 'receita_bruta')                as receita_bruta,
        max(valor) filter (where linha = 'deducoes')                     as deducoes,
        max(valor) filter (where linha = 'receita_liquida')              as receita_liquida,
        max(valor) filter (where linha = 'custos_despesas_operacionais') as operacionais,
        max(valor) filter (where linha = 'resultado_operacional')        as resultado_operacional,
        max(valor) filter (where linha = 'tarifas_bancarias')            as tarifas,
        max(valor) filter (where linha = 'resultado_liquido')            as resultado_liquido,
        count(*)                                                         as linhas

    from {{ ref('agg_dre_mes') }}
    group by 1

)

select indicadores.mes

from {{ ref('agg_indicadores_financeiros_mes') }} as indicadores
left join dre on dre.mes = indicadores.mes
where dre.mes is null
    or dre.linhas <> 7
    or dre.receita_bruta <> indicadores.receita
    or dre.resultado_liquido <> indicadores.resultado
    or -(dre.deducoes + dre.operacionais + dre.tarifas) <> indicadores.despesas
    or dre.receita_liquida <> dre.receita_bruta + dre.deducoes
    or dre.resultado_operacional <> dre.receita_liquida + dre.operacionais
    or dre.resultado_liquido <> dre.resultado_operacional + dre.tarifas
