-- One row per recurring contract and month it was billed: the contract's orders (U_Contrato not
-- null, not cancelled) summed per month. The ERP bills every active contract once a month; a
-- contract is active in a month when it was billed in it.
with

pedidos as (

    select * from {{ ref('int_comercial__pedidos') }}
    where id_contrato is not null
        and not cancelado

),

final as (

    select
        id_contrato,
        mes_referencia,
        min(codigo_cliente)          as codigo_cliente,
        sum(receita)::numeric(18, 2) as valor_faturado,
        count(*)::bigint             as pedidos

    from pedidos
    group by id_contrato, mes_referencia

)

select * from final
