-- Receivables (invoices issued) as they are now in the ledger; deleted ones are gone.
with

atual as (

    {{ razao_estado_atual('recebiveis', 'id_recebivel') }}

),

renamed as (

    select
        id_recebivel::int      as id_recebivel,
        id_cliente::int        as id_cliente,
        numero_documento::text as numero_documento,
        valor::numeric(18, 2)  as valor,
        data_emissao::date     as data_emissao,
        data_vencimento::date  as data_vencimento,
        situacao::text         as situacao,
        data_pagamento::date   as data_pagamento

    from atual

)

select * from renamed
