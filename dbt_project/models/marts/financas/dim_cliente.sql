-- The company's customers, one row per customer document (CPF or CNPJ, as a keyed hash): the
-- ledger's customers, and the customers of history invoices the ledger does not know. A person's
-- name and CPF never reach this table (staging drops them); a company keeps its CNPJ and name.
with

razao as (

    select
        documento_hash                                                      as chave_cliente,
        id_cliente                                                          as id_cliente_razao,
        tipo_pessoa,
        cnpj_cliente,
        nome_cliente,
        municipio,
        sigla_uf,
        criado_em::date                                                     as cliente_desde,
        'razao'                                                             as origem,
        row_number() over (partition by documento_hash order by id_cliente) as ordem

    from {{ ref('stg_razao__clientes') }}
    where documento_hash is not null

),

faturas as (

    select
        {{ pii_documento_hash('cnpj_cliente') }} as chave_cliente,
        cnpj_cliente,
        nome_cliente,
        min(data_emissao)                        as cliente_desde

    from {{ ref('stg_arquivos_financeiros__faturas') }}
    where cnpj_cliente is not null
    group by cnpj_cliente, nome_cliente

),

so_faturas as (

    select distinct on (faturas.chave_cliente)
        faturas.chave_cliente,
        null::integer as id_cliente_razao,
        'juridica'    as tipo_pessoa,
        faturas.cnpj_cliente,
        faturas.nome_cliente,
        null::text    as municipio,
        null::text    as sigla_uf,
        faturas.cliente_desde,
        'arquivo'     as origem

    from faturas
    left join razao on faturas.chave_cliente = razao.chave_cliente
    where razao.chave_cliente is null
    order by faturas.chave_cliente, faturas.cliente_desde

)

select
    chave_cliente,
    id_cliente_razao,
    tipo_pessoa,
    cnpj_cliente,
    nome_cliente,
    municipio,
    sigla_uf,
    cliente_desde,
    origem

from razao
where ordem = 1

union all

select * from so_faturas
