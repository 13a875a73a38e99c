-- The person key of macro esus_pii_hash follows its documented rule. One row per broken rule:
--   the CPF wins over the CNS; without a CPF (null or blank) the CNS is used; formatting
--   (dots, dash, spaces) does not change the key; neither document -> null; the key is 64 hex
--   characters, and keyed: not the plain SHA-256 of the document (which anyone could rebuild
--   by hashing every possible CPF).
-- Attached to stg_esus__cidadao, one of the models whose person key this is:
-- depends_on: {{ ref('stg_esus__cidadao') }}
with

casos (caso, cpf, cns) as (

    values
        ('cpf_e_cns',        '12345678909',        '898004455260000'),
        ('cpf_formatado',    ' 123.456.789-09 ',   null),
        ('so_cns',           null,                 '898004455260000'),
        ('cpf_em_branco',    '   ',                ' 898 0044 5526 0000'),
        ('nenhum',           null,                 null),
        ('ambos_em_branco',  '',                   '  ')

),

chaves as (

    select caso, {{ esus_pii_hash('cpf', 'cns') }} as id_pessoa_hash
    from casos

),

h as (

    select
        max(id_pessoa_hash) filter (where caso = 'cpf_e_cns')        as cpf_e_cns,
        max(id_pessoa_hash) filter (where caso = 'cpf_formatado')    as cpf_formatado,
        max(id_pessoa_hash) filter (where caso = 'so_cns')           as so_cns,
        max(id_pessoa_hash) filter (where caso = 'cpf_em_branco')    as cpf_em_branco,
        count(*) filter (where caso in ('nenhum', 'ambos_em_branco')
                           and id_pessoa_hash is not null)          as sem_documento_com_chave,
        count(*) filter (where caso not in ('nenhum', 'ambos_em_branco')
                           and (id_pessoa_hash is null
                                or id_pessoa_hash !~ '^[0-9a-f]{64}$')) as chave_mal_formada
    from chaves

),

falhas as (

    select 'o CPF deve prevalecer sobre o CNS' as regra_violada
    from h where cpf_e_cns = so_cns
    union all
    select 'formatação do CPF não pode mudar a chave'
    from h where cpf_e_cns is distinct from cpf_formatado
    union all
    select 'CPF em branco: usar o CNS (sem formatação)'
    from h where so_cns is distinct from cpf_em_branco
    union all
    select 'sem CPF e sem CNS a chave deve ser nula'
    from h where sem_documento_com_chave > 0
    union all
    select 'chave deve ter 64 caracteres hexadecimais'
    from h where chave_mal_formada > 0
    union all
    select 'chave deve ser com segredo (HMAC), não o SHA-256 puro do documento'
    from h
    where cpf_e_cns in (
        encode(sha256(convert_to('12345678909', 'UTF8')), 'hex'),
        encode(sha256(convert_to('cpf:12345678909', 'UTF8')), 'hex')
    )

)

select * from falhas
