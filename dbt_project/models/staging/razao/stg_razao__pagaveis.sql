-- Payables (bills to pay) as they are now in the ledger.
with

atual as (

    {{ razao_estado_atual('pagaveis', 'id_pagavel') }}

),

renamed as (

    select
        id_pagavel::int       as id_pagavel,
        fornecedor::text      as fornecedor,
        categoria::text       as categoria,
        valor::numeric(18, 2) as valor,
        data_emissao::date    as data_emissao,
        data_vencimento::date as data_vencimento,
        situacao::text        as situacao,
        data_pagamento::date  as data_pagamento

    from atual

)

select * from renamed
