-- Expense events, on the accrual basis, one row per document or payment, with their income
-- statement category: the ledger's payables by issue date (category as the ledger records it),
-- and the stream's Pix sent ('outras').
-- Before the ledger's first day (int_financas__corte_razao) the statements are the only record of
-- spending: their debits count on the day they left the account, fees as 'tarifas_bancarias', the
-- rest as 'outras'.
-- Cancelled payables are not expenses. Values positive.
with

pagaveis as (

    select * from {{ ref('stg_razao__pagaveis') }}

),

razao as (

    select
        'pagavel:' || id_pagavel::text as id_despesa,
        'razao'                        as origem,
        data_emissao                   as data,
        categoria,
        valor

    from pagaveis
    where situacao <> 'cancelado'

),

extratos as (

    select
        'extrato:' || extratos.id_lancamento as id_despesa,
        'arquivo'                            as origem,
        extratos.data_lancamento             as data,
        case
            when extratos.tipo_lancamento = 'tarifa' then 'tarifas_bancarias' else 'outras'
        end                                  as categoria,
        -extratos.valor                      as valor

    from {{ ref('stg_arquivos_financeiros__extratos') }} as extratos
    cross join {{ ref('int_financas__corte_razao') }} as corte
    where extratos.natureza = 'debito'
        and extratos.data_lancamento < corte.data_inicio_razao

),

eventos as (

    select
        'evento:' || id_evento as id_despesa,
        'evento'               as origem,
        data_evento            as data,
        'outras'               as categoria,
        valor

    from {{ ref('stg_eventos_pagamento__eventos') }}
    where natureza = 'debito'

)

select * from razao
union all
select * from extratos
union all
select * from eventos
