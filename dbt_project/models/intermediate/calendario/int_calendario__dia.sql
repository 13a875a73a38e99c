-- One row per calendar day from 2000-01-01 to 2035-12-31: the time spine of the dbt semantic layer
-- (config `time_spine` in _int_calendario__models.yml; MetricFlow joins metrics to it to fill days
-- without data and to roll days up to weeks, months, quarters and years).
select
    dia::date                        as data,
    extract(year from dia)::integer  as ano,
    extract(month from dia)::integer as mes

from generate_series('2000-01-01'::date, '2035-12-31'::date, interval '1 day') as dias (dia)
