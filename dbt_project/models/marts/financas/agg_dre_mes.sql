-- The monthly income statement (DRE, demonstração do resultado do exercício), one row per month
-- and line, in statement order, on the accrual basis of agg_indicadores_financeiros_mes (the same
-- revenue and expenses: resultado_liquido equals its resultado, tested):
--   1 receita_bruta                  revenue
--   2 deducoes                       taxes on revenue (payables of category 'impostos'), negative
--   3 receita_liquida                1 + 2
--   4 custos_despesas_operacionais   suppliers, payroll, rent, services and other spending, negative
--   5 resultado_operacional          3 + 4
--   6 tarifas_bancarias              bank fees, negative
--   7 resultado_liquido              5 + 6
with

meses as (

    select
        mes,
        ano
    from {{ ref('agg_indicadores_financeiros_mes') }}

),

receita as (

    select
        date_trunc('month', data)::date as mes,
        sum(valor)                      as valor
    from {{ ref('int_financas__receitas') }}
    group by date_trunc('month', data)

),

despesa as (

    select
        date_trunc('month', data)::date                                              as mes,
        sum(valor) filter (where categoria = 'impostos')                             as impostos,
        sum(valor) filter (where categoria = 'tarifas_bancarias')                    as tarifas,
        sum(valor) filter (where categoria not in ('impostos', 'tarifas_bancarias')) as operacionais

    from {{ ref('int_financas__despesas') }}
    group by date_trunc('month', data)

),

valores as (

    select
        meses.mes,
        meses.ano,
        coalesce(receita.valor, 0)         as receita_bruta,
        -coalesce(despesa.impostos, 0)     as deducoes,
        -coalesce(despesa.operacionais, 0) as custos_despesas_operacionais,
        -coalesce(despesa.tarifas, 0)      as tarifas_bancarias

    from meses
    left join receita on meses.mes = receita.mes
    left join despesa on meses.mes = despesa.mes

),

linhas as (

    select
        valores.mes,
        valores.ano,
        linha.ordem,
        linha.linha,
        linha.descricao,
        linha.valor

    from valores
    cross join lateral (
        values
        (1, 'receita_bruta', 'Receita bruta', valores.receita_bruta),
        (2, 'deducoes', '(-) Deduções (impostos sobre a receita)', valores.deducoes),
        (3, 'receita_liquida', 'Receita líquida', valores.receita_bruta + valores.deducoes),
        (
            4, 'custos_despesas_operacionais', '(-) Custos e despesas operacionais',
            valores.custos_despesas_operacionais
        ),
        (
            5, 'resultado_operacional', 'Resultado operacional',
            valores.receita_bruta + valores.deducoes + valores.custos_despesas_operacionais
        ),
        (6, 'tarifas_bancarias', '(-) Tarifas bancárias', valores.tarifas_bancarias),
        (
            7, 'resultado_liquido', 'Resultado líquido',
            valores.receita_bruta + valores.deducoes + valores.custos_despesas_operacionais
            + valores.tarifas_bancarias
        )
    ) as linha (ordem, linha, descricao, valor)

)

select
    mes::date             as mes,
    ano::integer          as ano,
    ordem::integer        as ordem,
    linha::text           as linha,
    descricao::text       as descricao,
    valor::numeric(18, 2) as valor

from linhas
