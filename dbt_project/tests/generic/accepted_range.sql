{#-
    Rows whose value lies outside [min_value, max_value] (either bound optional; nulls pass).
    The built-in tests have no range check and dbt_utils is not installed.
-#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}

select {{ column_name }} as valor_fora_do_intervalo
from {{ model }}
where {{ column_name }} is not null
  and (
        false
        {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
        {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
  )

{% endtest %}
