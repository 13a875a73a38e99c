-- SLA breaches per process and month (of the breach's start): how often, how far past the limit.
with

violacoes as (

    select * from {{ ref('stg_operacao__violacoes_sla') }}

),

agregado as (

    select
        processo,
        date_trunc('month', coalesce(inicio, detectada_em) at time zone 'America/Sao_Paulo')::date as mes,
        max(tipo)                                                                                  as tipo,
        max(limite_segundos)                                                                       as limite_segundos,
        count(*)::integer                                                                          as violacoes,
        count(*) filter (where em_andamento)::integer                                              as em_andamento,
        sum(excesso_segundos)
            as excesso_total_segundos,
        max(excesso_segundos)
            as excesso_maximo_segundos,
        max(observado_segundos)
            as observado_maximo_segundos,
        min(detectada_em)
            as primeira_violacao_em,
        max(detectada_em)                                                                          as ultima_violacao_em

    from violacoes
    group by 1, 2

)

select * from agregado
