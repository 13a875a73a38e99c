-- One row per ERP sales order with what the sales marts need: the order's day, month, delivery UF
-- and modality, its revenue and its item count. Revenue (receita) is the order total (DocTotal, in
-- BRL, taxes included as on the document) of orders that are not cancelled, dated by the order's
-- day (DocDate); a cancelled order has receita 0 and leaves every total, also for past months, once
-- the ERP reports its cancellation. Items (itens) are the sum of the order lines' quantities.
with

pedidos as (

    select * from {{ ref('stg_erp__orders') }}

),

linhas as (

    select
        id_pedido,
        count(*)        as linhas,
        sum(quantidade) as itens

    from {{ ref('stg_erp__order_lines') }}
    group by id_pedido

),

final as (

    select
        pedidos.id_pedido,
        pedidos.data_pedido,
        extract(year from pedidos.data_pedido)::integer  as ano,
        extract(month from pedidos.data_pedido)::integer as mes,
        date_trunc('month', pedidos.data_pedido)::date   as mes_referencia,
        pedidos.codigo_cliente,
        pedidos.sigla_uf,
        pedidos.id_municipio,
        pedidos.modalidade,
        pedidos.id_contrato,
        pedidos.cancelado,
        pedidos.valor_total,
        case when pedidos.cancelado then 0 else pedidos.valor_total end::numeric(18, 2)
            as receita,
        coalesce(linhas.linhas, 0)::bigint               as linhas,
        coalesce(linhas.itens, 0)::numeric(18, 3)        as itens

    from pedidos
    left join linhas
        on pedidos.id_pedido = linhas.id_pedido

)

select * from final
