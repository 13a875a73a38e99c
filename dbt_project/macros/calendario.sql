{#-
    Easter Sunday of the Gregorian year `ano` (an integer expression), as a date: the anonymous
    Gregorian algorithm (Meeus/Jones/Butcher), integer arithmetic only (all terms are non-negative,
    so PostgreSQL's truncating `/` and `%` are floor division and modulo). Checked against
    dateutil.easter for 1583-2999 when it was written; tests/test_calendario.py checks the built
    calendar against it. The Brazilian moveable dates hang on it: Good Friday (-2), Carnival
    Monday and Tuesday (-48, -47), Corpus Christi (+60).
-#}
{% macro pascoa(ano) -%}
    {%- set a = "(" ~ ano ~ " % 19)" -%}
    {%- set b = "(" ~ ano ~ " / 100)" -%}
    {%- set c = "(" ~ ano ~ " % 100)" -%}
    {%- set h = "((19 * " ~ a ~ " + " ~ b ~ " - " ~ b ~ " / 4 - (" ~ b ~ " - (" ~ b ~ " + 8) / 25 + 1) / 3 + 15) % 30)" -%}
    {%- set l = "((32 + 2 * (" ~ b ~ " % 4) + 2 * (" ~ c ~ " / 4) - " ~ h ~ " - " ~ c ~ " % 4) % 7)" -%}
    {%- set m = "((" ~ a ~ " + 11 * " ~ h ~ " + 22 * " ~ l ~ ") / 451)" -%}
    {%- set n = "(" ~ h ~ " + " ~ l ~ " - 7 * " ~ m ~ " + 114)" -%}
    make_date({{ ano }}, {{ n }} / 31, {{ n }} % 31 + 1)
{%- endmacro %}
