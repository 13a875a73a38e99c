-- A 90-day forecast of the company's cash (all accounts together), with a 95% band and the error
-- of the same method measured on the past (backtest), stored beside each row.
--
-- Method (docs/financas.md): the daily net movement of a business day and of a non-business day
-- (weekend or national holiday, dim_calendario) differ a lot, so each kind of day gets its own mean
-- and standard deviation over the last 90 days of actual data. The forecast balance of day D + h is
-- the last actual balance plus the sum of the means of days D+1..D+h (each by its kind); the band
-- is that +/- 1.96 x the square root of the sum of their variances (independent days).
-- Backtest: the same method fitted on the 90 days before D - 90 forecasts D-89..D, and the mean
-- absolute percentage error against the actual balances is erro_backtest_mape (null with less than
-- 180 days of history); erro_backtest_mae is the mean absolute error in reais.
{% set horizonte = 90 %}
{% set janela = 90 %}
with

saldo_diario as (

    select
        fluxo.data,
        sum(fluxo.saldo)             as saldo,
        sum(fluxo.movimento_liquido) as movimento,
        dias.dia_util

    from {{ ref('fct_fluxo_caixa_diario') }} as fluxo
    inner join {{ ref('dim_calendario') }} as dias on fluxo.data = dias.data
    group by fluxo.data, dias.dia_util

),

ultimo as (

    select max(data) as data from saldo_diario

),

-- the two fits: 'previsao' on the last {{ janela }} days, 'backtest' on the {{ janela }} before those
cortes as (

    select
        'previsao'  as nome,
        ultimo.data as fim
    from ultimo

    union all

    select
        'backtest'                    as nome,
        ultimo.data - {{ horizonte }} as fim
    from ultimo

),

ajustes as (

    select
        ajuste.nome,
        ajuste.fim,
        saldo_diario.dia_util,
        avg(saldo_diario.movimento)                      as media,
        coalesce(stddev_samp(saldo_diario.movimento), 0) as desvio,
        count(*)                                         as dias

    from cortes as ajuste
    inner join saldo_diario
        on saldo_diario.data > ajuste.fim - {{ janela }} and ajuste.fim >= saldo_diario.data
    group by ajuste.nome, ajuste.fim, saldo_diario.dia_util

),

horizontes as (

    select
        ajuste.nome,
        ajuste.fim,
        (ajuste.fim + h)::date as data,
        h                      as dias_a_frente

    from cortes as ajuste
    cross join generate_series(1, {{ horizonte }}) as h

),

passos as (

    select
        horizontes.nome,
        horizontes.fim,
        horizontes.data,
        horizontes.dias_a_frente,
        sum(coalesce(ajustes.media, 0)) over janela_acumulada            as movimento_esperado,
        sum(power(coalesce(ajustes.desvio, 0), 2)) over janela_acumulada as variancia

    from horizontes
    inner join {{ ref('dim_calendario') }} as dias on horizontes.data = dias.data
    left join ajustes
        on horizontes.nome = ajustes.nome and dias.dia_util = ajustes.dia_util
    window janela_acumulada as (partition by horizontes.nome order by horizontes.data)

),

previsto as (

    select
        passos.nome,
        passos.data,
        passos.dias_a_frente,
        base.saldo + passos.movimento_esperado as saldo_previsto,
        1.96 * sqrt(passos.variancia)          as meia_banda

    from passos
    inner join saldo_diario as base on passos.fim = base.data

),

backtest as (

    select
        avg(abs(previsto.saldo_previsto - efetivo.saldo) / nullif(abs(efetivo.saldo), 0)) as mape,
        avg(abs(previsto.saldo_previsto - efetivo.saldo))                                 as mae,
        count(*)                                                                          as dias

    from previsto
    inner join saldo_diario as efetivo on previsto.data = efetivo.data
    where previsto.nome = 'backtest'

),

historia_suficiente as (

    select count(*) >= {{ horizonte }} + {{ janela }} as suficiente from saldo_diario

)

select
    previsto.data::date                                             as data,
    previsto.dias_a_frente::integer                                 as dias_a_frente,
    previsto.saldo_previsto::numeric(18, 2)                         as saldo_previsto,
    (previsto.saldo_previsto - previsto.meia_banda)::numeric(18, 2) as limite_inferior,
    (previsto.saldo_previsto + previsto.meia_banda)::numeric(18, 2) as limite_superior,
    'media_por_tipo_de_dia_{{ janela }}d'::text                     as metodo,
    (case when historia_suficiente.suficiente then round(backtest.mape, 6) end)::numeric(12, 6)
        as erro_backtest_mape,
    (case when historia_suficiente.suficiente then backtest.mae end)::numeric(18, 2)
        as erro_backtest_mae,
    ultimo.data::date                                               as gerado_em

from previsto
cross join ultimo
cross join backtest
cross join historia_suficiente
where previsto.nome = 'previsao'
