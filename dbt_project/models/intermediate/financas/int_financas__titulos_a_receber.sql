-- What customers owe or owed: one row per receivable document not cancelled, the history invoices
-- before the ledger's first day and the ledger's receivables from it on (int_financas__corte_razao),
-- with issue, due and payment dates: the base of the default rate and of DSO.
select
    'recebivel:' || id_recebivel::text as id_titulo,
    'razao'                            as origem,
    valor,
    data_emissao,
    data_vencimento,
    data_pagamento

from {{ ref('stg_razao__recebiveis') }}
where situacao <> 'cancelado'

union all

select
    'fatura:' || faturas.numero_fatura as id_titulo,
    'arquivo'                          as origem,
    faturas.valor,
    faturas.data_emissao,
    faturas.data_vencimento,
    faturas.data_pagamento

from {{ ref('stg_arquivos_financeiros__faturas') }} as faturas
cross join {{ ref('int_financas__corte_razao') }} as corte
where faturas.situacao <> 'cancelada'
    and faturas.data_emissao < corte.data_inicio_razao
