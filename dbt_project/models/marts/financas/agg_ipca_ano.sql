-- Accumulated IPCA per full calendar year: the compounded product of the year's 12 monthly
-- variations (IBGE's annual IPCA is the same compounding of its index). A year with fewer than
-- 12 months loaded (the current one) is left out: a partial accumulation is not the annual IPCA.
with

meses as (

    select * from {{ ref('int_financas__ipca_mensal') }}

),

por_ano as (

    select
        ano,
        count(*)                                as meses,
        exp(sum(ln(1 + variacao_mensal / 100))) as fator

    from meses
    group by ano

)

select
    ano,
    round((fator - 1) * 100, 4)::numeric(10, 4) as ipca_acumulado

from por_ano
where meses = 12
