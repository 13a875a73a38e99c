{#- Rows whose text value does not match a POSIX regular expression (nulls pass). -#}
{% test matches_regex(model, column_name, pattern) %}

select {{ column_name }} as valor_invalido
from {{ model }}
where {{ column_name }} is not null
  and not ({{ column_name }}::text ~ '{{ pattern }}')

{% endtest %}
