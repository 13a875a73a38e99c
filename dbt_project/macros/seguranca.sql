{#
  Row-level security on the e-SUS marts (post-hook of marts/atencao_primaria in dbt_project.yml).

  The data API connects as mirante_api and, in each request's transaction, sets the GUC
  `mirante.municipios` from the request's API key: '*' for a key without a municipality list, else
  the key's 7-digit codes joined by commas. A row is visible to mirante_api only when its
  id_municipio is in that list; with the setting absent or empty nothing is visible (fail closed:
  a request path that forgot to set it reads no row, never every row). mirante_reader (SQL users,
  the Great Expectations suites) reads every row; the owner (mirante_transformer, dbt) is not
  subject to the policies.

  Re-applied on every build: a table materialization replaces the relation, an incremental one
  keeps it (hence `drop policy if exists`).
#}
{% macro rls_por_municipio(coluna='id_municipio') %}
    alter table {{ this }} enable row level security;
    drop policy if exists leitura_total on {{ this }};
    create policy leitura_total on {{ this }} for select to mirante_reader using (true);
    drop policy if exists api_por_municipio on {{ this }};
    create policy api_por_municipio on {{ this }} for select to mirante_api using (
        case current_setting('mirante.municipios', true)
            when '*' then true
            else {{ adapter.quote(coluna) }} = any(string_to_array(current_setting('mirante.municipios', true), ','))
        end
    );
{% endmacro %}


{#
  The key of a CPF or CNPJ past raw: a keyed hash (pii.hmac_sha256, as the e-SUS person key, macro
  esus_pii_hash) of the document's kind and digits, 'cpf:' for 11 digits (the same key as a person's
  in e-SUS), 'cnpj:' for 14, so "12.345.678/0001-90" and "12345678000190" give the same key and a
  document joins across sources (ledger customers, invoices, payment counterparts) without ever
  appearing in clear. Empty or missing -> null.
#}
{% macro pii_documento_hash(documento) -%}
    pii.hmac_sha256(
        case length(regexp_replace({{ documento }}::text, '[^0-9]', '', 'g'))
            when 11 then 'cpf:'
            when 14 then 'cnpj:'
            else 'doc:'
        end
        || nullif(regexp_replace({{ documento }}::text, '[^0-9]', '', 'g'), '')
    )
{%- endmacro %}
