-- One row per ERP sales order (SAP B1 Orders), cancelled ones included (flag cancelado). Deduplicated
-- on DocEntry: the latest version (UpdateDate, UpdateTime, then the latest load) wins.
with

source as (

    select * from {{ source('raw_erp', 'orders') }}

),

latest as (

    select
        *,
        {{ erp_ordem_versao() }} as ordem_versao

    from source

),

renamed as (

    select
        -- keys
        doc_entry::bigint                        as id_pedido,
        doc_num::bigint                          as numero_pedido,
        card_code::text                          as codigo_cliente,
        sales_person_code::integer               as id_vendedor,
        u_contrato::bigint                       as id_contrato,

        -- sale
        card_name::text                          as razao_social_cliente,
        u_modalidade::text                       as modalidade,
        (cancelled = 'tYES')                     as cancelado,
        doc_total::numeric(18, 2)                as valor_total,
        vat_sum::numeric(18, 2)                  as valor_impostos,
        doc_currency::text                       as moeda,

        -- delivery
        address_extension__ship_to_county::text  as id_municipio,
        address_extension__ship_to_city::text    as nome_municipio,
        address_extension__ship_to_state::text   as sigla_uf,
        address_extension__ship_to_country::text as sigla_pais,

        -- dates
        doc_date::date                           as data_pedido,
        doc_due_date::date                       as data_vencimento,
        creation_date::date                      as data_criacao,
        update_date::date                        as data_atualizacao,
        update_time::text                        as hora_atualizacao

    from latest
    where ordem_versao = 1

)

select * from renamed
