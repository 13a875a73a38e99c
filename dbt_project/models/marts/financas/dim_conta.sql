-- The company's bank accounts, one row per ledger account: the ledger is their system of record;
-- statement lines and stream events name an account by branch and number and are matched to it
-- (fct_lancamento), so an account missing here fails fct_lancamento's relationship test.
select
    id_conta,
    nome_banco,
    agencia,
    conta,
    descricao,
    aberta_em

from {{ ref('stg_razao__contas') }}
