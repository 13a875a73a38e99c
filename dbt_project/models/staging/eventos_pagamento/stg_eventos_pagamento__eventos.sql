-- Payment events, one row per id_evento. Incremental by offset: the loader commits batches in
-- offset order (one transaction each), so every event not yet here has an offset above the
-- highest one here. The counterparty's CPF/CNPJ is replaced by its keyed hash.
with

{% if is_incremental() %}
ja_carregado as (

    select coalesce(max(deslocamento), 0) as ultimo_deslocamento
    from {{ this }}

),
{% endif %}

source as (

    select eventos.*
    from {{ source('raw_eventos_pagamento', 'eventos') }} as eventos
    {% if is_incremental() %}
    inner join ja_carregado
        on eventos.deslocamento > ja_carregado.ultimo_deslocamento
    {% endif %}

),

renamed as (

    select
        id_evento::text                                                         as id_evento,
        deslocamento::bigint                                                    as deslocamento,
        tipo::text                                                              as tipo_evento,
        (case when tipo = 'pix_enviado' then 'debito' else 'credito' end)::text as natureza,
        agencia::text                                                           as agencia,
        conta::text                                                             as conta,
        valor::numeric(18, 2)                                                   as valor,
        bandeira::text                                                          as bandeira,
        {{ pii_documento_hash('contraparte_documento') }}::text                 as contraparte_hash,
        ocorrido_em::timestamptz                                                as ocorrido_em,
        (ocorrido_em at time zone 'America/Sao_Paulo')::date                    as data_evento,
        _carregado_em::timestamptz                                              as carregado_em

    from source

)

select * from renamed
