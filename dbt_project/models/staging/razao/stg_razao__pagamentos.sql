-- Payments received (credito, settling a receivable) and made (debito, settling a payable), as
-- they are now in the ledger; the day of payment is Brasília's.
with

atual as (

    {{ razao_estado_atual('pagamentos', 'id_pagamento') }}

),

renamed as (

    select
        id_pagamento::int                                             as id_pagamento,
        id_conta::int                                                 as id_conta,
        id_recebivel::int                                             as id_recebivel,
        id_pagavel::int                                               as id_pagavel,
        natureza::text                                                as natureza,
        valor::numeric(18, 2)                                         as valor,
        meio::text                                                    as meio,
        pago_em::timestamptz                                          as pago_em,
        (pago_em::timestamptz at time zone 'America/Sao_Paulo')::date as data_pagamento

    from atual

)

select * from renamed
