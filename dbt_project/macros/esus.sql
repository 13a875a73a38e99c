{#-
    Macros of the e-SUS APS (atenção primária) models.
-#}


{#-
    The person key of e-SUS records: a keyed hash of the person's CPF, or of the CNS when there is
    no CPF; null when the record has neither. CNS and CPF never leave staging in clear.

    Rule (the same in every staging model, so a person joins across tables and municipalities):
      1. each document is reduced to its digits (formatting such as "123.456.789-09" or spaces
         does not change the key) and an empty result counts as missing;
      2. the CPF is preferred: key = 'cpf:' || digits of the CPF; without a CPF,
         key = 'cns:' || digits of the CNS (the prefixes keep the two number spaces apart);
      3. id_pessoa_hash = pii.hmac_sha256(key): HMAC-SHA256 in hex (64 characters) with a key kept
         in schema pii, which no Mirante role can read (mirante/db.py); the transformer role may
         only execute the function. The function is strict, so both documents missing -> null.
    Known limit: a person recorded in one ficha with CPF and in another with the CNS only gets two
    keys, so counts of distinct people can be slightly high (never low). The PEC fills both
    documents from the citizen's record (in the emulator every fact row agrees with
    tb_fat_cidadao_pec), so this needs a ficha whose CPF was missing when it was typed.
    Tested by tests/assert_esus_pii_hash_regra.sql.
-#}
{% macro esus_pii_hash(cpf_col, cns_col) -%}
    pii.hmac_sha256(coalesce(
        'cpf:' || nullif(regexp_replace({{ cpf_col }}::text, '[^0-9]', '', 'g'), ''),
        'cns:' || nullif(regexp_replace({{ cns_col }}::text, '[^0-9]', '', 'g'), '')
    ))
{%- endmacro %}


{#- A PEC time key (bigint yyyymmdd, as in tb_dim_tempo) as a date. -#}
{% macro esus_data_de_tempo(coluna) -%}
    to_date({{ coluna }}::text, 'YYYYMMDD')
{%- endmacro %}


{#-
    The day e-SUS lateness is measured against: today in Brasília time (the loader runs at 05:00
    America/Sao_Paulo; current_date alone would follow the session's time zone, UTC on the server).
    A macro so that unit tests can fix the day (overrides: macros: esus_data_referencia).
-#}
{% macro esus_data_referencia() -%}
    (now() at time zone 'America/Sao_Paulo')::date
{%- endmacro %}


{#-
    Incremental cut-off of the daily e-SUS marts, per municipality. Municipalities are pulled
    independently and lag differently (one may be a week behind after an outage), so a single
    cut-off (the table's latest day) would skip the lagging ones' days; and records keep arriving
    for past days (fichas typed late, CDS / app synchronized days or weeks later, a re-pull of a
    day range), so "days after the latest one" is not enough either. For each municipality already
    in `alvo` the model recomputes every day from `data_corte` on, the earlier of:
      * its latest day in `alvo` minus `esus_dias_reprocessados` (var, default 3) days, and
      * its earliest day whose record count in `fonte` differs from the count the mart holds for
        it (`contagem_alvo` summed per day): late records for any past day are found by counting,
        which reads the source without hashing anyone.
      * with `coluna_carga` (a load timestamp in both relations), its earliest day with a row in
        `fonte` loaded after the latest load `alvo` has seen for it: a record or a dimension row
        changed in place at the source (same count, other values) is recomputed too.
    A municipality not yet in `alvo` (new in the registry) is processed from its first day. With
    delete+insert on (day, municipality) the recomputed municipality-days are replaced whole, so an
    incremental run gives the same rows as a full refresh (a day whose records all vanished from
    the source keeps its old rows: the loader only appends and merges).
    Returns a select of (id_municipio, data_corte, primeira_data, ultima_data): the cut-off and
    the municipality's first and latest day in `alvo`.
-#}
{% macro esus_corte_incremental(alvo, coluna_data_alvo, contagem_alvo, fonte, coluna_data_fonte,
                                contagem_fonte='count(*)', coluna_carga=none) -%}
    with

    por_dia_alvo as (

        select id_municipio, {{ coluna_data_alvo }} as data, sum({{ contagem_alvo }}) as registros
        from {{ alvo }}
        group by id_municipio, {{ coluna_data_alvo }}

    ),

    por_dia_fonte as (

        select id_municipio, {{ coluna_data_fonte }} as data, {{ contagem_fonte }} as registros
        from {{ fonte }}
        group by id_municipio, {{ coluna_data_fonte }}

    ),

    primeiro_dia_alterado as (

        select
            coalesce(por_dia_alvo.id_municipio, por_dia_fonte.id_municipio)  as id_municipio,
            min(coalesce(por_dia_alvo.data, por_dia_fonte.data))             as data

        from por_dia_alvo
        full join por_dia_fonte
            on  por_dia_alvo.id_municipio = por_dia_fonte.id_municipio
            and por_dia_alvo.data = por_dia_fonte.data
        where coalesce(por_dia_alvo.registros, 0) <> coalesce(por_dia_fonte.registros, 0)
        group by 1

    ),

    {% if coluna_carga %}
    carga_alvo as (

        select id_municipio, max({{ coluna_carga }}) as carga
        from {{ alvo }}
        group by id_municipio

    ),

    primeiro_dia_recarregado as (

        select fonte.id_municipio, min(fonte.{{ coluna_data_fonte }}) as data
        from {{ fonte }} as fonte
        inner join carga_alvo
            on fonte.id_municipio = carga_alvo.id_municipio
        where fonte.{{ coluna_carga }} > carga_alvo.carga
        group by fonte.id_municipio

    ),
    {% endif %}

    limites_alvo as (

        select
            id_municipio,
            min(data)  as primeira_data,
            max(data)  as ultima_data

        from por_dia_alvo
        group by id_municipio

    )

    select
        limites_alvo.id_municipio,
        least(
            limites_alvo.ultima_data - {{ var('esus_dias_reprocessados', 3) | int }},
            primeiro_dia_alterado.data
            {%- if coluna_carga %},
            primeiro_dia_recarregado.data
            {%- endif %}
        )                           as data_corte,
        limites_alvo.primeira_data,
        limites_alvo.ultima_data

    from limites_alvo
    left join primeiro_dia_alterado
        on limites_alvo.id_municipio = primeiro_dia_alterado.id_municipio
    {%- if coluna_carga %}
    left join primeiro_dia_recarregado
        on limites_alvo.id_municipio = primeiro_dia_recarregado.id_municipio
    {%- endif %}
{%- endmacro %}
