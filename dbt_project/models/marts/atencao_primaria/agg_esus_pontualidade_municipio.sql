-- Timeliness of each municipality's e-SUS data, as of the day of the build (Brasília time): the
-- last successful pull, the latest day with care records and how late that is (D-1 is on time),
-- and the last failed pull with its error kind and code (never its message: it may name hosts,
-- ports or users of the municipal servers).
with

execucoes as (

    select * from {{ ref('stg_esus__execucoes') }}

),

registros as (

    select * from {{ ref('int_atencao_primaria__registros_dia') }}

),

-- the log has one row per run, municipality and table; status, error and attempts are the run's
corridas as (

    select
        id_municipio,
        id_execucao,
        max(data_hora_fim) as data_hora_fim,
        case
            when bool_or(status = 'em_andamento') then 'em_andamento'
            when bool_and(status = 'sucesso') then 'sucesso'
            when bool_or(status = 'interrompido') then 'interrompido'
            else 'falha'
        end                as status,
        max(tipo_erro)     as tipo_erro,
        max(codigo_erro)   as codigo_erro,
        max(tentativas)    as tentativas,
        case
            when bool_or(reconciliacao = 'divergente') then 'divergente'
            when bool_and(reconciliacao = 'ok') then 'ok'
        end                as reconciliacao

    from execucoes
    group by id_municipio, id_execucao

),

ultima_corrida as (

    select distinct on (id_municipio)
        id_municipio,
        status        as status_ultima_execucao,
        tentativas    as tentativas_ultima_execucao,
        reconciliacao as reconciliacao_ultima_execucao

    from corridas
    -- a run in progress has no end yet: it is the latest
    order by id_municipio asc, data_hora_fim desc nulls first, id_execucao asc

),

ultima_falha as (

    select distinct on (id_municipio)
        id_municipio,
        data_hora_fim as ultima_falha,
        tipo_erro     as tipo_erro_ultima_falha,
        codigo_erro   as codigo_erro_ultima_falha,
        tentativas    as tentativas_ultima_falha

    from corridas
    where status in ('falha', 'interrompido')
    order by id_municipio asc, data_hora_fim desc, id_execucao asc

),

ultimo_sucesso as (

    select
        id_municipio,
        max(data_hora_fim) as ultima_carga_sucesso

    from corridas
    where status = 'sucesso'
    group by id_municipio

),

ultimo_dia as (

    select
        id_municipio,
        max(data) as ultimo_dia_com_dados

    from registros
    group by id_municipio

),

municipios as (

    select id_municipio from corridas
    union
    select id_municipio from ultimo_dia

),

atraso as (

    select
        municipios.id_municipio,
        {{ esus_data_referencia() }}                                     as data_referencia,
        ultimo_sucesso.ultima_carga_sucesso,
        ultimo_dia.ultimo_dia_com_dados,
        ({{ esus_data_referencia() }} - ultimo_dia.ultimo_dia_com_dados) as dias_de_atraso

    from municipios
    left join ultimo_sucesso
        on municipios.id_municipio = ultimo_sucesso.id_municipio
    left join ultimo_dia
        on municipios.id_municipio = ultimo_dia.id_municipio

),

final as (

    select
        atraso.id_municipio,
        atraso.data_referencia,
        atraso.ultima_carga_sucesso,
        atraso.ultimo_dia_com_dados,
        atraso.dias_de_atraso,
        case
            when atraso.ultimo_dia_com_dados is null then 'sem_dados'
            when atraso.dias_de_atraso <= 1 then 'em_dia'
            else 'atrasado'
        end as situacao,
        ultima_corrida.status_ultima_execucao,
        ultima_corrida.tentativas_ultima_execucao,
        ultima_corrida.reconciliacao_ultima_execucao,
        ultima_falha.ultima_falha,
        ultima_falha.tipo_erro_ultima_falha,
        ultima_falha.codigo_erro_ultima_falha,
        ultima_falha.tentativas_ultima_falha

    from atraso
    left join ultima_corrida
        on atraso.id_municipio = ultima_corrida.id_municipio
    left join ultima_falha
        on atraso.id_municipio = ultima_falha.id_municipio

)

select * from final
