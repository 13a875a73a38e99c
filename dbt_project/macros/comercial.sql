{#-
    Macros of the commercial (CRM + ERP) models.
-#}


{#-
    Version order of a raw ERP document (1 = the current one): the latest UpdateDate, then
    UpdateTime, then the latest load. One definition for the headers and for the lines, which are
    tied to the current version of their header.
-#}
{% macro erp_ordem_versao() -%}
    row_number() over (
            partition by doc_entry
            order by update_date::date desc nulls last, update_time::text desc nulls last,
                     _dlt_load_id::numeric desc
        )
{%- endmacro %}


{#- Version order of a raw CRM record (1 = the current one): latest LastUpdateDate, then load. -#}
{% macro crm_ordem_versao() -%}
    row_number() over (
            partition by id
            order by last_update_date desc nulls last, _dlt_load_id::numeric desc
        )
{%- endmacro %}


{#-
    Sales totals of non-cancelled orders grouped by `dimensoes` (a list of columns of
    int_comercial__pedidos), the body of vendas_ano_mes, vendas_uf and vendas_modalidade:
      receita      = sum of the order totals (DocTotal, BRL) of the orders that are not cancelled;
      pedidos      = number of those orders;
      itens        = sum of their lines' quantities;
      ticket_medio = receita / pedidos, rounded to cents.
    Every mart groups the same rows, so the three revenue totals are equal
    (tests/assert_comercial_receita_confere_com_staging.sql).
-#}
{% macro comercial_vendas_por(dimensoes) -%}
    select
        {%- for coluna in dimensoes %}
        {{ coluna }},
        {%- endfor %}
        sum(receita)::numeric(18, 2)                               as receita,
        count(*)::bigint                                           as pedidos,
        sum(itens)::numeric(18, 3)                                 as itens,
        round(sum(receita) / nullif(count(*), 0), 2)::numeric(18, 2) as ticket_medio

    from {{ ref('int_comercial__pedidos') }}
    where not cancelado
    group by {{ dimensoes | join(', ') }}
{%- endmacro %}


{#- 100 * ganhos / (ganhos + perdidos) with 2 decimals; null when no deal closed. -#}
{% macro comercial_taxa_conversao(ganhos, perdidos) -%}
    round(100.0 * ({{ ganhos }}) / nullif(({{ ganhos }}) + ({{ perdidos }}), 0), 2)::numeric(5, 2)
{%- endmacro %}
