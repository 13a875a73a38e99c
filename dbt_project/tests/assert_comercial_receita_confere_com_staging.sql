-- Every commercial mart that holds revenue holds all of it: the revenue summed over vendas_ano_mes,
-- vendas_uf, vendas_modalidade and kpi_comercial_diario equals the total (DocTotal) of the
-- non-cancelled orders in stg_erp__orders, and the order counts match too. Returns one row per mart
-- that differs (an order lost or counted twice on the way, a UF or modality dropped by a join).
-- meta.dagster.ref: a check of vendas_ano_mes in Dagster (a test with several parents is otherwise none).
{{ config(meta={'dagster': {'ref': {'name': 'vendas_ano_mes'}}}) }}

with

staging as (

    select
        coalesce(sum(valor_total), 0)::numeric(18, 2)  as receita,
        count(*)::bigint                               as pedidos

    from {{ ref('stg_erp__orders') }}
    where not cancelado

),

marts as (

    select 'vendas_ano_mes' as mart, sum(receita) as receita, sum(pedidos) as pedidos
    from {{ ref('vendas_ano_mes') }}
    union all
    select 'vendas_uf', sum(receita), sum(pedidos)
    from {{ ref('vendas_uf') }}
    union all
    select 'vendas_modalidade', sum(receita), sum(pedidos)
    from {{ ref('vendas_modalidade') }}
    union all
    select 'kpi_comercial_diario', sum(receita), null
    from {{ ref('kpi_comercial_diario') }}

)

select
    marts.mart,
    marts.receita          as receita_mart,
    staging.receita        as receita_staging,
    marts.pedidos          as pedidos_mart,
    staging.pedidos        as pedidos_staging

from marts
cross join staging
where coalesce(marts.receita, 0) <> staging.receita
   or (marts.pedidos is not null and marts.pedidos <> staging.pedidos)
