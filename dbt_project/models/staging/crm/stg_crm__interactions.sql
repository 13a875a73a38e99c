-- One row per CRM interaction (Ploomes Interactions). The free-text content may name people and
-- is not kept. Deduplicated on the id (the latest version wins).
with

source as (

    select * from {{ source('raw_crm', 'interactions') }}

),

latest as (

    select
        *,
        {{ crm_ordem_versao() }} as ordem_versao

    from source

),

renamed as (

    select
        id::bigint                    as id_interacao,
        contact_id::bigint            as id_contato,
        deal_id::bigint               as id_negocio,
        type_id::integer              as id_tipo_interacao,
        date::timestamptz             as data_hora_interacao,
        (date::timestamptz at time zone 'America/Sao_Paulo')::date
            as data_interacao,
        create_date::timestamptz      as data_hora_criacao,
        last_update_date::timestamptz as data_hora_atualizacao

    from latest
    where ordem_versao = 1

)

select * from renamed
