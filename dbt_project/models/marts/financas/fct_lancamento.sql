-- Every movement of money on the company's accounts, one row per movement: statement lines of the
-- history files before the ledger's first day, the ledger's payments from then on, and the
-- payment stream's events (Pix, card settlements). Credits positive, debits negative.
--
-- Incremental for the stream, whole for the rest: the stream only appends (events are immutable),
-- so a run adds the events past the highest offset it holds; the ledger is captured by CDC and its
-- payments are updated and deleted at the source, so its rows (and the files', a file can be
-- replaced) are deleted and rebuilt on every run, in the same transaction (pre_hook): a deleted
-- payment never lingers, and they are a few thousand rows.
{{
    config(
        materialized='incremental',
        unique_key='id_lancamento',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where origem <> 'evento'{% endif %}",
    )
}}

with

contas as (

    select * from {{ ref('dim_conta') }}

),

extratos as (

    select
        'extrato:' || extratos.id_lancamento as id_lancamento,
        'arquivo'                            as origem,
        extratos.data_lancamento,
        contas.id_conta,
        extratos.natureza,
        extratos.valor,
        extratos.tipo_lancamento             as meio,
        null::integer                        as id_recebivel,
        null::integer                        as id_pagavel,
        null::text                           as contraparte_hash,
        null::bigint                         as deslocamento_evento

    from {{ ref('stg_arquivos_financeiros__extratos') }} as extratos
    cross join {{ ref('int_financas__corte_razao') }} as corte
    left join contas
        on extratos.agencia = contas.agencia and extratos.conta = contas.conta
    where extratos.data_lancamento < corte.data_inicio_razao

),

pagamentos as (

    select
        'pagamento:' || pagamentos.id_pagamento::text as id_lancamento,
        'razao'                                       as origem,
        pagamentos.data_pagamento                     as data_lancamento,
        pagamentos.id_conta,
        pagamentos.natureza,
        case
            when pagamentos.natureza = 'debito' then -pagamentos.valor else pagamentos.valor
        end                                           as valor,
        pagamentos.meio,
        pagamentos.id_recebivel,
        pagamentos.id_pagavel,
        clientes.documento_hash                       as contraparte_hash,
        null::bigint                                  as deslocamento_evento

    from {{ ref('stg_razao__pagamentos') }} as pagamentos
    left join {{ ref('stg_razao__recebiveis') }} as recebiveis
        on pagamentos.id_recebivel = recebiveis.id_recebivel
    left join {{ ref('stg_razao__clientes') }} as clientes
        on recebiveis.id_cliente = clientes.id_cliente

),

{% if is_incremental() %}
-- the stream's offsets are dense and committed in order (loaders/eventos_pagamento): every event
-- past the highest one already here is new
ja_carregados as (

    select coalesce(max(carregado.deslocamento_evento), 0) as deslocamento
    from {{ this }} as carregado
    where carregado.origem = 'evento'

),
{% endif %}

eventos as (

    select
        'evento:' || eventos.id_evento                                                   as id_lancamento,
        'evento'                                                                         as origem,
        eventos.data_evento                                                              as data_lancamento,
        contas.id_conta,
        eventos.natureza,
        case when eventos.natureza = 'debito' then -eventos.valor else eventos.valor end as valor,
        case when eventos.tipo_evento = 'liquidacao_cartao' then 'cartao' else 'pix' end as meio,
        null::integer                                                                    as id_recebivel,
        null::integer                                                                    as id_pagavel,
        eventos.contraparte_hash,
        eventos.deslocamento                                                             as deslocamento_evento

    from {{ ref('stg_eventos_pagamento__eventos') }} as eventos
    left join contas
        on eventos.agencia = contas.agencia and eventos.conta = contas.conta
    {% if is_incremental() %}
    inner join ja_carregados on eventos.deslocamento > ja_carregados.deslocamento
    {% endif %}

),

unidos as (

    select * from extratos
    union all
    select * from pagamentos
    union all
    select * from eventos

)

select
    id_lancamento::text         as id_lancamento,
    origem::text                as origem,
    data_lancamento::date       as data_lancamento,
    id_conta::integer           as id_conta,
    natureza::text              as natureza,
    valor::numeric(18, 2)       as valor,
    meio::text                  as meio,
    id_recebivel::integer       as id_recebivel,
    id_pagavel::integer         as id_pagavel,
    contraparte_hash::text      as contraparte_hash,
    deslocamento_evento::bigint as deslocamento_evento

from unidos
