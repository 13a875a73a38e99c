-- The forecast's band holds its forecast, widens (never narrows) with the horizon, and the
-- forecast starts the day after its last actual day and covers 90 consecutive days.
{{ config(meta={'dagster': {'ref': {'name': 'fct_previsao_fluxo_caixa'}}}) }}

with

previsao as (

    select
        *,
        limite_superior - limite_inferior as largura,
        lag(limite_superior - limite_inferior) over (order by data) as largura_anterior

    from {{ ref('fct_previsao_fluxo_caixa') }}

)

select data, 'banda' as verificacao
from previsao
where not (limite_inferior <= saldo_previsto and saldo_previsto <= limite_superior)
    or largura < coalesce(largura_anterior, 0)
    or data <> gerado_em + dias_a_frente

union all

select max(data), 'horizonte'
from previsao
having count(*) not in (0, 90)
