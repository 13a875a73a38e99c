-- The cash balance is the sum of the movements: for every account and day of fct_fluxo_caixa_diario,
-- the day's inflows and outflows are the day's movements in fct_lancamento, and the balance moved
-- from the previous day's by exactly the net movement; and for every account the last balance is
-- the opening balance (first day's balance minus its movement) plus every movement of the account.
-- Returns one row per account and day (or account) that does not add up.
{{ config(meta={'dagster': {'ref': {'name': 'fct_fluxo_caixa_diario'}}}) }}

with

fluxo as (

    select
        *,
        lag(saldo) over (partition by id_conta order by data) as saldo_anterior,
        first_value(saldo - movimento_liquido) over (partition by id_conta order by data) as abertura,
        row_number() over (partition by id_conta order by data desc) as de_tras

    from {{ ref('fct_fluxo_caixa_diario') }}

),

movimentos as (

    select
        id_conta,
        data_lancamento                                 as data,
        sum(case when valor > 0 then valor else 0 end)  as entradas,
        sum(case when valor < 0 then -valor else 0 end) as saidas

    from {{ ref('fct_lancamento') }}
    group by 1, 2

),

total_conta as (

    select id_conta, sum(valor) as soma from {{ ref('fct_lancamento') }} group by 1

)

select
    fluxo.id_conta,
    fluxo.data,
    'dia' as verificacao

from fluxo
left join movimentos
    on movimentos.id_conta = fluxo.id_conta and movimentos.data = fluxo.data
where fluxo.entradas <> coalesce(movimentos.entradas, 0)
    or fluxo.saidas <> coalesce(movimentos.saidas, 0)
    or (fluxo.saldo_anterior is not null and fluxo.saldo <> fluxo.saldo_anterior + fluxo.movimento_liquido)

union all

select
    fluxo.id_conta,
    fluxo.data,
    'total' as verificacao

from fluxo
left join total_conta on total_conta.id_conta = fluxo.id_conta
where fluxo.de_tras = 1
    and fluxo.saldo <> fluxo.abertura + coalesce(total_conta.soma, 0)

union all

-- a movement on a day or account the cash flow does not have
select
    movimentos.id_conta,
    movimentos.data,
    'movimento fora do fluxo' as verificacao

from movimentos
left join fluxo
    on fluxo.id_conta = movimentos.id_conta and fluxo.data = movimentos.data
where fluxo.data is null
