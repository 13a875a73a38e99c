-- The company's bank accounts as they are now in the ledger (the same bank, branch and account
-- strings as the bank statement files).
with

atual as (

    {{ razao_estado_atual('contas', 'id_conta') }}

),

renamed as (

    select
        id_conta::int    as id_conta,
        nome_banco::text as nome_banco,
        agencia::text    as agencia,
        conta::text      as conta,
        descricao::text  as descricao,
        aberta_em::date  as aberta_em

    from atual

)

select * from renamed
