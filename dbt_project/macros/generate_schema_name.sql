{#-
    A custom schema name is used verbatim: models land in `staging`, `intermediate` and `marts`,
    not in `<target schema>_<custom>` (dbt's default). Without a custom schema, the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
