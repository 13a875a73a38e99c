-- One row per line of an ERP sales order (DocumentLines). The raw child rows carry only their
-- parent's dlt row id (_dlt_parent_id): they are tied to the order's DocEntry through the current
-- version of the order (a line of a superseded version, should one survive a load, is dropped).
with

lines as (

    select * from {{ source('raw_erp', 'orders__document_lines') }}

),

orders as (

    select
        doc_entry,
        _dlt_id,
        {{ erp_ordem_versao() }} as ordem_versao

    from {{ source('raw_erp', 'orders') }}

),

current_lines as (

    select
        orders.doc_entry,
        lines.*,
        row_number() over (
            partition by orders.doc_entry, lines.line_num order by lines._dlt_list_idx
        ) as ordem_linha

    from lines
    inner join orders
        on lines._dlt_parent_id = orders._dlt_id
        and orders.ordem_versao = 1

),

renamed as (

    select
        doc_entry::bigint          as id_pedido,
        line_num::integer          as numero_linha,
        item_code::text            as codigo_item,
        item_description::text     as descricao_item,
        quantity::numeric(18, 3)   as quantidade,
        price::numeric(18, 2)      as preco_unitario,
        line_total::numeric(18, 2) as valor_total,
        currency::text             as moeda

    from current_lines
    where ordem_linha = 1

)

select * from renamed
