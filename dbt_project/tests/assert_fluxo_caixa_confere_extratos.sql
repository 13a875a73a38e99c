-- The cash flow agrees with the bank: on every day the history statements cover (before the
-- ledger's first day), the account's closing balance in fct_fluxo_caixa_diario equals the balance
-- of the statement's last line of that day. A statement line lost or counted twice on the way
-- (parser, quarantine, deduplication, the account match) shows as a day that differs.
{{ config(meta={'dagster': {'ref': {'name': 'fct_fluxo_caixa_diario'}}}) }}

with

ultima_linha as (

    select distinct on (contas.id_conta, extratos.data_lancamento)
        contas.id_conta,
        extratos.data_lancamento as data,
        extratos.saldo

    from {{ ref('stg_arquivos_financeiros__extratos') }} as extratos
    inner join {{ ref('dim_conta') }} as contas
        on contas.agencia = extratos.agencia and contas.conta = extratos.conta
    where extratos.saldo is not null
        and extratos.data_lancamento < (select data_inicio_razao from {{ ref('int_financas__corte_razao') }})
    order by contas.id_conta, extratos.data_lancamento, extratos.nome_arquivo desc, extratos.linha_arquivo desc

)

select
    ultima_linha.id_conta,
    ultima_linha.data,
    ultima_linha.saldo as saldo_extrato,
    fluxo.saldo        as saldo_fluxo

from ultima_linha
left join {{ ref('fct_fluxo_caixa_diario') }} as fluxo
    on fluxo.id_conta = ultima_linha.id_conta and fluxo.data = ultima_linha.data
where fluxo.saldo is distinct from ultima_linha.saldo
