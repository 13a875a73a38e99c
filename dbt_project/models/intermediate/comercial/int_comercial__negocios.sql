-- One row per CRM deal with the flags and the cycle the KPIs need: ganho / perdido as of the last
-- load, and the sales cycle in days (closing day minus opening day, Brasília time) of closed deals.
with

negocios as (

    select * from {{ ref('stg_crm__deals') }}

),

final as (

    select
        id_negocio,
        id_contato,
        id_responsavel,
        situacao,
        (situacao = 'ganho')   as ganho,
        (situacao = 'perdido') as perdido,
        valor,
        data_criacao,
        case when situacao in ('ganho', 'perdido') then data_fechamento end
            as data_fechamento,
        case when situacao in ('ganho', 'perdido') then data_fechamento - data_criacao end
            as dias_ciclo

    from negocios

)

select * from final
