-- Daily commercial KPIs, one row per calendar day from the first to the last day with sales
-- activity (an order, a deal opened or a deal closed), days without activity included with zero
-- counts (a date spine: no gaps). Contacts created before the first activity day (the customer
-- base the CRM started with) fall outside the window.
with

pedidos as (

    select
        data_pedido  as data,
        sum(receita) as receita
    from {{ ref('int_comercial__pedidos') }}
    where not cancelado
    group by data_pedido

),

leads as (

    select
        data_criacao as data,
        count(*)     as leads
    from {{ ref('stg_crm__contacts') }}
    group by data_criacao

),

negocios_fechados as (

    select
        data_fechamento                      as data,
        count(*) filter (where ganho)        as negocios_ganhos,
        count(*) filter (where perdido)      as negocios_perdidos,
        avg(valor) filter (where ganho)      as valor_medio_negocio,
        avg(dias_ciclo) filter (where ganho) as ciclo_vendas_dias

    from {{ ref('int_comercial__negocios') }}
    where data_fechamento is not null
    group by data_fechamento

),

dias_com_atividade as (

    select data from pedidos
    union
    select data_criacao from {{ ref('int_comercial__negocios') }}
    union
    select data from negocios_fechados

),

dias as (

    select generate_series(min(data), max(data), interval '1 day')::date as data
    from dias_com_atividade

),

final as (

    select
        dias.data,
        coalesce(leads.leads, 0)::bigint                                as leads,
        coalesce(negocios_fechados.negocios_ganhos, 0)::bigint          as negocios_ganhos,
        coalesce(negocios_fechados.negocios_perdidos, 0)::bigint        as negocios_perdidos,
        {{ comercial_taxa_conversao(
            'coalesce(negocios_fechados.negocios_ganhos, 0)',
            'coalesce(negocios_fechados.negocios_perdidos, 0)') }}      as taxa_conversao,
        round(negocios_fechados.valor_medio_negocio, 2)::numeric(18, 2) as valor_medio_negocio,
        coalesce(pedidos.receita, 0)::numeric(18, 2)                    as receita,
        round(negocios_fechados.ciclo_vendas_dias, 1)::numeric(8, 1)    as ciclo_vendas_dias

    from dias
    left join leads
        on dias.data = leads.data
    left join negocios_fechados
        on dias.data = negocios_fechados.data
    left join pedidos
        on dias.data = pedidos.data

)

select * from final
