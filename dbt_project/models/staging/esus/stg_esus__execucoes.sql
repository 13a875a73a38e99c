-- One row per loader run, municipality and PEC table (the run log of loaders/esus/runlog.py), with
-- the reconciliation of raw against the source read in the extraction's snapshot.
with

source as (

    select * from {{ source('raw_esus', 'execucoes') }}

),

renamed as (

    select
        id_execucao::text        as id_execucao,
        id_municipio::text       as id_municipio,
        tabela::text             as tabela,
        inicio::timestamptz      as data_hora_inicio,
        fim::timestamptz         as data_hora_fim,
        linhas::bigint           as quantidade_linhas,
        linhas_lidas::bigint     as quantidade_linhas_lidas,
        cursor_antes::bigint     as cursor_antes,
        cursor_depois::bigint    as cursor_depois,
        contagem_origem::bigint  as contagem_origem,
        contagem_raw::bigint     as contagem_raw,
        chave_max_origem::bigint as chave_max_origem,
        chave_max_raw::bigint    as chave_max_raw,
        reconciliacao::text      as reconciliacao,
        status::text             as status,
        tipo_erro::text          as tipo_erro,
        codigo_erro::text        as codigo_erro,
        tentativas::integer      as tentativas,
        modo::text               as modo

    from source

)

select * from renamed
