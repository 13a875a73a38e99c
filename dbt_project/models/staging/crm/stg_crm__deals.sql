-- One row per CRM deal (Ploomes Deals), with its status as text (StatusId 1 open, 2 won, 3 lost)
-- and the local (Brasília) days of opening and closing. The title, which names the customer, is
-- not kept. Deduplicated on the id (the latest version wins).
with

source as (

    select * from {{ source('raw_crm', 'deals') }}

),

latest as (

    select
        *,
        {{ crm_ordem_versao() }} as ordem_versao

    from source

),

renamed as (

    select
        -- keys
        id::bigint                    as id_negocio,
        contact_id::bigint            as id_contato,
        pipeline_id::bigint           as id_funil,
        stage_id::bigint              as id_etapa,
        owner_id::bigint              as id_responsavel,

        -- state
        stage__name::text             as nome_etapa,
        status_id::integer            as id_situacao,
        case status_id::integer
            when 1 then 'aberto'
            when 2 then 'ganho'
            when 3 then 'perdido'
        end                           as situacao,
        amount::numeric(18, 2)        as valor,

        -- dates (Brasília time)
        create_date::timestamptz      as data_hora_criacao,
        (create_date::timestamptz at time zone 'America/Sao_Paulo')::date
            as data_criacao,
        finish_date::timestamptz      as data_hora_fechamento,
        (finish_date::timestamptz at time zone 'America/Sao_Paulo')::date
            as data_fechamento,
        last_update_date::timestamptz as data_hora_atualizacao

    from latest
    where ordem_versao = 1

)

select * from renamed
