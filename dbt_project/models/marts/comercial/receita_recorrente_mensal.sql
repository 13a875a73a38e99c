-- Monthly recurring revenue of the service contracts: orders with a contract (U_Contrato), which the
-- ERP bills once a month. One row per month from the first month with a contract billed to the last
-- month with any order (no gaps). A contract is active in a month when it was billed in it; new in
-- its first billed month; cancelled in the first month it is no longer billed after being billed
-- the month before.
with

contratos_mes as (

    select * from {{ ref('int_comercial__contratos_mes') }}

),

primeiro_mes as (

    select
        id_contrato,
        min(mes_referencia) as mes_referencia
    from contratos_mes
    group by id_contrato

),

limites as (

    select
        (select min(mes_referencia) from contratos_mes)                       as primeiro,
        (select max(mes_referencia) from {{ ref('int_comercial__pedidos') }}) as ultimo

),

meses as (

    select generate_series(primeiro, ultimo, interval '1 month')::date as mes_referencia
    from limites

),

ativos as (

    select
        mes_referencia,
        sum(valor_faturado) as mrr,
        count(*)            as contratos_ativos

    from contratos_mes
    group by mes_referencia

),

novos as (

    select
        mes_referencia,
        count(*) as contratos_novos
    from primeiro_mes
    group by mes_referencia

),

cancelados as (

    select
        (anterior.mes_referencia + interval '1 month')::date as mes_referencia,
        count(*)                                             as contratos_cancelados

    from contratos_mes as anterior
    left join contratos_mes as seguinte
        on anterior.id_contrato = seguinte.id_contrato
        and seguinte.mes_referencia = (anterior.mes_referencia + interval '1 month')::date
    where seguinte.id_contrato is null
    group by (anterior.mes_referencia + interval '1 month')::date

),

final as (

    select
        extract(year from meses.mes_referencia)::integer     as ano,
        extract(month from meses.mes_referencia)::integer    as mes,
        coalesce(ativos.mrr, 0)::numeric(18, 2)              as mrr,
        coalesce(ativos.contratos_ativos, 0)::bigint         as contratos_ativos,
        coalesce(novos.contratos_novos, 0)::bigint           as contratos_novos,
        coalesce(cancelados.contratos_cancelados, 0)::bigint as contratos_cancelados

    from meses
    left join ativos
        on meses.mes_referencia = ativos.mes_referencia
    left join novos
        on meses.mes_referencia = novos.mes_referencia
    left join cancelados
        on meses.mes_referencia = cancelados.mes_referencia

)

select * from final
