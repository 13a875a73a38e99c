-- Revenue events, on the accrual basis, one row per document or sale: invoices of the history files
-- (before the ledger) and the ledger's receivables by issue date, and the stream's cash sales (Pix
-- received, card settlements) on the day they happen. Cancelled documents are not revenue.
-- The history files and the ledger cover disjoint periods: an invoice from the files dated on or
-- after the ledger's first day (int_financas__corte_razao) is left to the ledger (the ledger is the system of record).
with

recebiveis as (

    select * from {{ ref('stg_razao__recebiveis') }}

),

faturas as (

    select
        'fatura:' || faturas.numero_fatura               as id_receita,
        'arquivo'                                        as origem,
        faturas.data_emissao                             as data,
        {{ pii_documento_hash('faturas.cnpj_cliente') }} as documento_hash,
        faturas.valor

    from {{ ref('stg_arquivos_financeiros__faturas') }} as faturas
    cross join {{ ref('int_financas__corte_razao') }} as corte
    where faturas.situacao <> 'cancelada'
        and faturas.data_emissao < corte.data_inicio_razao

),

razao as (

    select
        'recebivel:' || recebiveis.id_recebivel::text as id_receita,
        'razao'                                       as origem,
        recebiveis.data_emissao                       as data,
        clientes.documento_hash,
        recebiveis.valor

    from recebiveis
    left join {{ ref('stg_razao__clientes') }} as clientes
        on recebiveis.id_cliente = clientes.id_cliente
    where recebiveis.situacao <> 'cancelado'

),

vendas as (

    select
        'evento:' || id_evento as id_receita,
        'evento'               as origem,
        data_evento            as data,
        contraparte_hash       as documento_hash,
        valor

    from {{ ref('stg_eventos_pagamento__eventos') }}
    where natureza = 'credito'

)

select * from faturas
union all
select * from razao
union all
select * from vendas
