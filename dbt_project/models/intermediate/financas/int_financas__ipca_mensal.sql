-- Monthly IPCA (SGS 433) with a chained index: indice_ipca = product of (1 + variation / 100) from
-- the first month loaded up to and including the month (first month's index = 1 + its variation).
-- Dividing two months' indexes gives the inflation between them, which deflates a value from one
-- month's prices to another's. The product is taken as exp(sum(ln(...))): PostgreSQL has no
-- product aggregate; numeric keeps it exact to far more than the published 2 decimals.
with

ipca as (

    select
        data  as mes,
        valor as variacao_mensal

    from {{ ref('stg_bcb__series') }}
    where codigo_serie = 433

),

encadeado as (

    select
        mes,
        variacao_mensal,
        exp(sum(ln(1 + variacao_mensal / 100)) over (order by mes))::numeric(20, 10) as indice_ipca

    from ipca

)

select
    mes,
    extract(year from mes)::integer  as ano,
    extract(month from mes)::integer as mes_do_ano,
    variacao_mensal,
    indice_ipca

from encadeado
