-- fct_lancamento holds every movement of its sources once, incremental runs included: per origin,
-- its row count and signed total equal those of the statement lines before the ledger's first day,
-- the ledger's current payments, and the stream's events. Returns one row per origin that differs
-- (a deleted ledger payment kept, a stream event skipped or loaded twice by the incremental cut).
{{ config(meta={'dagster': {'ref': {'name': 'fct_lancamento'}}}) }}

with

fontes as (

    select 'arquivo' as origem, count(*) as linhas, coalesce(sum(valor), 0) as total
    from {{ ref('stg_arquivos_financeiros__extratos') }}
    where data_lancamento < (select data_inicio_razao from {{ ref('int_financas__corte_razao') }})

    union all

    select 'razao', count(*),
        coalesce(sum(case when natureza = 'debito' then -valor else valor end), 0)
    from {{ ref('stg_razao__pagamentos') }}

    union all

    select 'evento', count(*),
        coalesce(sum(case when natureza = 'debito' then -valor else valor end), 0)
    from {{ ref('stg_eventos_pagamento__eventos') }}

),

fato as (

    select origem, count(*) as linhas, coalesce(sum(valor), 0) as total
    from {{ ref('fct_lancamento') }}
    group by 1

)

select fontes.origem, fontes.linhas, fato.linhas as linhas_fato, fontes.total, fato.total as total_fato
from fontes
left join fato on fato.origem = fontes.origem
where fontes.linhas <> coalesce(fato.linhas, 0) or fontes.total <> coalesce(fato.total, 0)
