-- One row per line of an ERP A/R invoice (DocumentLines), with the order it bills (BaseEntry).
-- Tied to the invoice's DocEntry through the current version of the invoice, as the order lines.
with

lines as (

    select * from {{ source('raw_erp', 'invoices__document_lines') }}

),

invoices as (

    select
        doc_entry,
        _dlt_id,
        {{ erp_ordem_versao() }} as ordem_versao

    from {{ source('raw_erp', 'invoices') }}

),

current_lines as (

    select
        invoices.doc_entry,
        lines.*,
        row_number() over (
            partition by invoices.doc_entry, lines.line_num order by lines._dlt_list_idx
        ) as ordem_linha

    from lines
    inner join invoices
        on lines._dlt_parent_id = invoices._dlt_id
        and invoices.ordem_versao = 1

),

renamed as (

    select
        doc_entry::bigint          as id_nota_fiscal,
        line_num::integer          as numero_linha,
        base_entry::bigint         as id_pedido,
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
