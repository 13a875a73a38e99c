-- The day the ledger starts: the first day any ledger document (receivable, payable) was issued or
-- any ledger payment was made. The history files are the record before it, the ledger from it on,
-- so a movement or document is counted from one source only (one row; '9999-12-31' while the
-- ledger is empty: everything then comes from the files).
select
    coalesce(least(
        (select min(data_emissao) from {{ ref('stg_razao__recebiveis') }}),
        (select min(data_emissao) from {{ ref('stg_razao__pagaveis') }}),
        (select min(data_pagamento) from {{ ref('stg_razao__pagamentos') }})
    ), '9999-12-31'::date) as data_inicio_razao
