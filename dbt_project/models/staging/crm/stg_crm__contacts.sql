-- One row per CRM contact (customer or lead). Personal data never leaves this model in clear: the
-- e-mail becomes a keyed hash (pii.hmac_sha256, as the e-SUS documents), phones (raw child table
-- contacts__phones) are not read, and the name is kept only for companies (TypeId 1), whose name
-- is the legal name; a person's name is dropped. Deduplicated on the id (the latest version wins)
-- in case a load re-delivers a contact outside the merge.
with

source as (

    select * from {{ source('raw_crm', 'contacts') }}

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
        id::bigint                    as id_contato,
        owner_id::bigint              as id_responsavel,

        -- company (TypeId 1); a person's name is personal data and is not kept
        type_id::integer              as id_tipo_contato,
        (type_id = 1)                 as empresa,
        case when type_id = 1 then coalesce(legal_name, name)::text end
            as razao_social,
        nullif(regexp_replace(register::text, '[^0-9]', '', 'g'), '')
            as cnpj,
        pii.hmac_sha256('email:' || nullif(lower(trim(email::text)), ''))
            as id_email_hash,

        -- location
        city__ibge_code::text         as id_municipio,
        city__name::text              as nome_municipio,
        city__state__short::text      as sigla_uf,

        -- dates (Brasília time: the CRM writes -03:00)
        create_date::timestamptz      as data_hora_criacao,
        (create_date::timestamptz at time zone 'America/Sao_Paulo')::date
            as data_criacao,
        last_update_date::timestamptz as data_hora_atualizacao

    from latest
    where ordem_versao = 1

)

select * from renamed
