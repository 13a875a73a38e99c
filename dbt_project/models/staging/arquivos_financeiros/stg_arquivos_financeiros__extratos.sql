-- One row per bank statement entry, across files (raw holds each file's current version: the
-- loader replaces a file's rows): an entry present in two overlapping exports of the same account
-- once (the latest load wins). Identical entries of one day (same document and amount) are told
-- apart by their order in the file (ocorrencia). The description is cut before the counterpart,
-- often a person's name.
with

source as (

    select * from {{ source('raw_arquivos_financeiros', 'extratos') }}

),

numbered as (

    select
        *,
        row_number() over (
            partition by arquivo, agencia, conta, data, coalesce(documento, historico), valor
            order by linha
        ) as ocorrencia

    from source

),

keyed as (

    select
        *,
        md5(
            concat_ws('|', agencia, conta, data::text, coalesce(documento, historico), valor::text, ocorrencia::text)
        ) as id_lancamento

    from numbered

),

latest as (

    select
        *,
        row_number() over (partition by id_lancamento order by _dlt_load_id desc, arquivo desc) as ordem_versao

    from keyed

),

renamed as (

    select
        id_lancamento,
        banco::text                                          as nome_banco,
        agencia::text                                        as agencia,
        conta::text                                          as conta,
        data::date                                           as data_lancamento,
        -- the counterpart after ' - ' is often a person's name ("Pix recebido - João ..."): names of
        -- persons never leave raw, so only the operation's part of the description is kept
        split_part(historico, ' - ', 1)::text                as historico,
        documento::text                                      as documento,
        case
            when historico ilike 'pix%' then 'pix'
            when historico ilike 'ted%' then 'ted'
            when historico ilike '%boleto%' then 'boleto'
            when historico ilike 'tarifa%' then 'tarifa'
            else 'outro'
        end                                                  as tipo_lancamento,
        case when valor < 0 then 'debito' else 'credito' end as natureza,
        valor::numeric(18, 2)                                as valor,
        saldo::numeric(18, 2)                                as saldo,
        arquivo::text                                        as nome_arquivo,
        linha::integer                                       as linha_arquivo

    from latest
    where ordem_versao = 1

)

select * from renamed
