{#-
    100 * numerador / denominador rounded to 2 decimals, as SNIS publishes its indicators; null when
    the denominator is null or zero (no base, no indicator).
-#}
{% macro indice_percentual(numerador, denominador) -%}
    round(100.0 * ({{ numerador }}) / nullif({{ denominador }}, 0), 2)::numeric(38, 2)
{%- endmacro %}
