-- A payment settles exactly one document, the one its nature says: a credit a receivable, a debit
-- a payable. Returns the payments that do not.
select
    id_pagamento,
    natureza,
    id_recebivel,
    id_pagavel
from {{ ref('stg_razao__pagamentos') }}
where not (
        (natureza = 'credito' and id_recebivel is not null and id_pagavel is null)
        or (natureza = 'debito' and id_pagavel is not null and id_recebivel is null)
    )
