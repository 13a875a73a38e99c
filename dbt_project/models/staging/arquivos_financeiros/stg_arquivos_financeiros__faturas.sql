-- One row per invoice number, across files (raw holds each file's current version): of an invoice
-- in several files (its status changed) the row of the latest load wins.
with

source as (

    select * from {{ source('raw_arquivos_financeiros', 'faturas') }}

),

latest as (

    select
        *,
        row_number() over (partition by numero order by _dlt_load_id desc, arquivo desc) as ordem_versao

    from source

),

renamed as (

    select
        numero::text          as numero_fatura,
        cnpj_cliente::text    as cnpj_cliente,
        nome_cliente::text    as nome_cliente,
        data_emissao::date    as data_emissao,
        data_vencimento::date as data_vencimento,
        valor::numeric(18, 2) as valor,
        situacao::text        as situacao,
        data_pagamento::date  as data_pagamento,
        arquivo::text         as nome_arquivo

    from latest
    where ordem_versao = 1

)

select * from renamed
