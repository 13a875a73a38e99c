-- The month's financial indicators, from the first to the last month with revenue or expenses:
--   receita / despesas / resultado   accrual basis (int_financas__receitas, int_financas__despesas)
--   margem                           resultado / receita (null without revenue)
--   taxa_inadimplencia               of the receivables (ledger + history invoices) due in the month
--                                    up to the reference day (the month's end, or the last day with
--                                    data for the current month), the share of value not paid by then
--   dso_dias                         days sales outstanding: receivables open at the month's end /
--                                    the month's credit sales (invoices + receivables) x days in month
--   ipca_indice                      the month's IPCA index over the last month's (last month = 1);
--                                    a month IBGE has not published yet takes the latest published
--   *_real                           the value in reais of the last month: value / ipca_indice
--   cotacao_usd / receita_usd        mean PTAX of the month's days; revenue converted at each day's
--                                    rate (int_financas__cotacao_dolar_diaria)
with

receitas as (

    select * from {{ ref('int_financas__receitas') }}

),

despesas as (

    select * from {{ ref('int_financas__despesas') }}

),

limites as (

    select
        date_trunc('month', least(
            (select min(data) from receitas), (select min(data) from despesas)
        ))::date                                                                     as primeiro_mes,
        greatest((select max(data) from receitas), (select max(data) from despesas)) as data_referencia

),

meses as (

    select
        m.mes::date                                                                as mes,
        least((m.mes + interval '1 month - 1 day')::date, limites.data_referencia) as corte,
        (m.mes + interval '1 month - 1 day')::date                                 as fim_mes

    from limites
    cross join generate_series(limites.primeiro_mes, limites.data_referencia, interval '1 month') as m (mes)

),

cotacoes as (

    select * from {{ ref('int_financas__cotacao_dolar_diaria') }}

),

receita_mes as (

    select
        date_trunc('month', receitas.data)::date                       as mes,
        sum(receitas.valor)                                            as receita,
        sum(receitas.valor) filter (where receitas.origem <> 'evento') as receita_a_prazo,
        sum(receitas.valor / cotacoes.cotacao)                         as receita_usd

    from receitas
    left join cotacoes on receitas.data = cotacoes.data
    group by date_trunc('month', receitas.data)

),

despesa_mes as (

    select
        date_trunc('month', data)::date as mes,
        sum(valor)                      as despesas

    from despesas
    group by date_trunc('month', data)

),

cotacao_mes as (

    select
        date_trunc('month', data)::date as mes,
        avg(cotacao)                    as cotacao_usd

    from cotacoes
    group by date_trunc('month', data)

),

titulos as (

    select * from {{ ref('int_financas__titulos_a_receber') }}

),

inadimplencia as (

    select
        meses.mes,
        coalesce(sum(titulos.valor) filter (
            where titulos.data_pagamento is null or titulos.data_pagamento > meses.corte
        ), 0) / nullif(sum(titulos.valor), 0) as taxa_inadimplencia

    from meses
    inner join titulos
        on titulos.data_vencimento between meses.mes and meses.corte
    group by meses.mes

),

em_aberto as (

    select
        meses.mes,
        sum(titulos.valor) as a_receber

    from meses
    inner join titulos
        on meses.corte >= titulos.data_emissao
        and (titulos.data_pagamento is null or meses.corte < titulos.data_pagamento)
    group by meses.mes

),

ipca as (

    select distinct on (meses.mes)
        meses.mes,
        publicado.indice_ipca as indice

    from meses
    inner join {{ ref('int_financas__ipca_mensal') }} as publicado
        on meses.mes >= publicado.mes
    order by meses.mes asc, publicado.mes desc

),

ipca_relativo as (

    select
        mes,
        indice / last_value(indice) over (
            order by mes rows between unbounded preceding and unbounded following
        ) as ipca_indice

    from ipca

),

juntos as (

    select
        meses.mes,
        meses.fim_mes,
        coalesce(receita_mes.receita, 0)  as receita,
        coalesce(despesa_mes.despesas, 0) as despesas,
        receita_mes.receita_a_prazo,
        receita_mes.receita_usd,
        inadimplencia.taxa_inadimplencia,
        em_aberto.a_receber,
        ipca_relativo.ipca_indice,
        cotacao_mes.cotacao_usd

    from meses
    left join receita_mes on meses.mes = receita_mes.mes
    left join despesa_mes on meses.mes = despesa_mes.mes
    left join inadimplencia on meses.mes = inadimplencia.mes
    left join em_aberto on meses.mes = em_aberto.mes
    left join ipca_relativo on meses.mes = ipca_relativo.mes
    left join cotacao_mes on meses.mes = cotacao_mes.mes

)

select
    mes::date                                                           as mes,
    extract(year from mes)::integer                                     as ano,
    receita::numeric(18, 2)                                             as receita,
    despesas::numeric(18, 2)                                            as despesas,
    (receita - despesas)::numeric(18, 2)                                as resultado,
    round((receita - despesas) / nullif(receita, 0), 6)::numeric(12, 6) as margem,
    round(taxa_inadimplencia, 6)::numeric(12, 6)                        as taxa_inadimplencia,
    round(
        coalesce(a_receber, 0) / nullif(receita_a_prazo, 0) * extract(day from fim_mes), 2
    )::numeric(12, 2)                                                   as dso_dias,
    round(ipca_indice, 8)::numeric(16, 8)                               as ipca_indice,
    (receita / ipca_indice)::numeric(18, 2)                             as receita_real,
    (despesas / ipca_indice)::numeric(18, 2)                            as despesas_real,
    ((receita - despesas) / ipca_indice)::numeric(18, 2)                as resultado_real,
    round(cotacao_usd, 4)::numeric(12, 4)                               as cotacao_usd,
    coalesce(receita_usd, 0)::numeric(18, 2)                            as receita_usd

from juntos
