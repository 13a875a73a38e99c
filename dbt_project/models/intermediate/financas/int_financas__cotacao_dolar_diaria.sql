-- The US dollar PTAX sell rate (SGS 1) for every calendar day from the first quote to today: a day
-- without a quote (weekend, holiday, or after the last quote loaded) takes the latest quote before
-- it, and dias_desde_cotacao says how old that quote is. Converting a day's reais at "the day's
-- rate" then never drops a day.
with

cotacoes as (

    select
        data,
        valor as cotacao

    from {{ ref('stg_bcb__series') }}
    where codigo_serie = 1

),

primeira as (

    select min(data) as data from cotacoes

),

dias as (

    select dias.data

    from {{ ref('int_calendario__dia') }} as dias
    inner join primeira on dias.data between primeira.data and current_date

),

marcados as (

    select
        dias.data,
        max(cotacoes.data) over (order by dias.data) as data_cotacao

    from dias
    left join cotacoes on dias.data = cotacoes.data

)

select
    marcados.data,
    marcados.data_cotacao,
    cotacoes.cotacao,
    (marcados.data - marcados.data_cotacao)::integer as dias_desde_cotacao

from marcados
inner join cotacoes on marcados.data_cotacao = cotacoes.data
