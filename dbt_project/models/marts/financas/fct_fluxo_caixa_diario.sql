-- Cash flow per account and day: inflows, outflows, the day's net movement and the closing
-- balance, for every day from the account's first movement to the last day any source has data
-- (a day without movement repeats the balance). The balance is the account's opening balance plus
-- the running sum of fct_lancamento: the opening balance comes from the bank, from the earliest
-- statement line that carries a balance (its balance minus the movements up to and including it);
-- an account with no statement opens at zero. Reconciled with the statements' own balances by
-- tests/assert_fluxo_caixa_confere_extratos.sql and with the movements by
-- tests/assert_fluxo_caixa_saldo_igual_movimentos.sql.
with

lancamentos as (

    select * from {{ ref('fct_lancamento') }}

),

contas as (

    select * from {{ ref('dim_conta') }}

),

extratos as (

    select
        contas.id_conta,
        extratos.saldo,
        sum(extratos.valor) over (
            partition by contas.id_conta
            order by extratos.data_lancamento, extratos.nome_arquivo, extratos.linha_arquivo
        ) as acumulado,
        row_number() over (
            partition by contas.id_conta, extratos.saldo is not null
            order by extratos.data_lancamento, extratos.nome_arquivo, extratos.linha_arquivo
        ) as ordem

    from {{ ref('stg_arquivos_financeiros__extratos') }} as extratos
    inner join contas
        on extratos.agencia = contas.agencia and extratos.conta = contas.conta

),

abertura as (

    select
        id_conta,
        saldo - acumulado as saldo_abertura

    from extratos
    where saldo is not null and ordem = 1

),

inicio as (

    select
        id_conta,
        min(data_lancamento) as primeiro_dia

    from lancamentos
    group by id_conta

),

ultimo as (

    select max(data_lancamento) as ultimo_dia from lancamentos

),

dias_conta as (

    select
        inicio.id_conta,
        dias.data

    from inicio
    cross join ultimo
    inner join {{ ref('dim_calendario') }} as dias
        on dias.data between inicio.primeiro_dia and ultimo.ultimo_dia

),

movimento as (

    select
        id_conta,
        data_lancamento                                 as data,
        sum(case when valor > 0 then valor else 0 end)  as entradas,
        sum(case when valor < 0 then -valor else 0 end) as saidas

    from lancamentos
    group by id_conta, data_lancamento

),

diario as (

    select
        dias_conta.data,
        dias_conta.id_conta,
        coalesce(movimento.entradas, 0) as entradas,
        coalesce(movimento.saidas, 0)   as saidas

    from dias_conta
    left join movimento
        on dias_conta.id_conta = movimento.id_conta and dias_conta.data = movimento.data

)

select
    diario.data::date                                 as data,
    diario.id_conta::integer                          as id_conta,
    contas.nome_banco::text                           as nome_banco,
    contas.agencia::text                              as agencia,
    contas.conta::text                                as conta,
    diario.entradas::numeric(18, 2)                   as entradas,
    diario.saidas::numeric(18, 2)                     as saidas,
    (diario.entradas - diario.saidas)::numeric(18, 2) as movimento_liquido,
    (
        coalesce(abertura.saldo_abertura, 0)
        + sum(diario.entradas - diario.saidas) over (partition by diario.id_conta order by diario.data)
    )::numeric(18, 2)                                 as saldo

from diario
inner join contas on diario.id_conta = contas.id_conta
left join abertura on diario.id_conta = abertura.id_conta
