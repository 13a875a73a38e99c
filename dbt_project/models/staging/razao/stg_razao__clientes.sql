-- Customers as they are now in the ledger. Persons (CPF) keep no name and no document in clear:
-- only the keyed hash of the document (macro pii_documento_hash: 'cpf:' or 'cnpj:' and the digits,
-- as the e-SUS person key, so a person joins across sources), never a CPF or a person's name past raw.
with

atual as (

    {{ razao_estado_atual('clientes', 'id_cliente') }}

),

renamed as (

    select
        id_cliente::int                                             as id_cliente,
        tipo_pessoa::text                                           as tipo_pessoa,
        case when tipo_pessoa = 'juridica' then documento::text end as cnpj_cliente,
        {{ pii_documento_hash('documento') }}                       as documento_hash,
        case when tipo_pessoa = 'juridica' then nome::text end      as nome_cliente,
        municipio::text                                             as municipio,
        sigla_uf::text                                              as sigla_uf,
        criado_em::timestamptz                                      as criado_em,
        atualizado_em::timestamptz                                  as atualizado_em

    from atual

)

select * from renamed
