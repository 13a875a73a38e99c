-- The project's one calendar: the days of int_calendario__dia (the semantic layer's time spine, same
-- range) with weekday, weekend, Brazilian national holidays and business days.
-- Holidays are computed, not seeded: the fixed ones are the list below and Good Friday follows
-- Easter (macro pascoa, macros/calendario.sql), so a wider range needs no new rows and the rule
-- lives in one place. Carnival and Corpus Christi are pontos facultativos, not holidays.
with

dias as (

    select * from {{ ref('int_calendario__dia') }}

),

anos as (

    select distinct ano from dias

),

pascoa as (

    select
        ano,
        {{ pascoa('ano') }} as domingo_pascoa

    from anos

),

-- national holidays on a fixed day by federal law (Lei 662/1949 as amended, Lei 6.802/1980,
-- Lei 10.607/2002); desde_ano only where the holiday is younger than the calendar's first year
feriados_fixos as (

    select *
    from (
        values
        (1, 1, 'Confraternização Universal', null),
        (4, 21, 'Tiradentes', null),
        (5, 1, 'Dia do Trabalho', null),
        (9, 7, 'Independência do Brasil', null),
        (10, 12, 'Nossa Senhora Aparecida', null),
        (11, 2, 'Finados', null),
        (11, 15, 'Proclamação da República', null),
        -- Lei 14.759/2023: national from 2024 on (before, a holiday only where a state or city made it one)
        (11, 20, 'Dia Nacional de Zumbi e da Consciência Negra', 2024),
        (12, 25, 'Natal', null)
    ) as f (mes, dia, nome, desde_ano)

),

feriados as (

    select
        make_date(anos.ano, feriados_fixos.mes, feriados_fixos.dia) as data,
        feriados_fixos.nome

    from anos
    cross join feriados_fixos
    where feriados_fixos.desde_ano is null or anos.ano >= feriados_fixos.desde_ano

    union all

    select
        domingo_pascoa - 2      as data,
        'Sexta-feira da Paixão' as nome

    from pascoa

),

-- two holidays may fall on one day (Good Friday on Tiradentes: 2000-04-21): one row, both names
feriados_por_dia as (

    select
        data,
        string_agg(nome, ' / ' order by nome) as nome_feriado

    from feriados
    group by data

),

-- the federal pontos facultativos that follow Easter (whole days; Ash Wednesday, until 14h, is not one)
pontos_facultativos as (

    select
        domingo_pascoa - 48 as data,
        'Carnaval'          as nome
    from pascoa

    union all

    select
        domingo_pascoa - 47 as data,
        'Carnaval'          as nome
    from pascoa

    union all

    select
        domingo_pascoa + 60 as data,
        'Corpus Christi'    as nome
    from pascoa

),

final as (

    select
        dias.data,
        dias.ano,
        dias.mes,
        extract(day from dias.data)::integer                                 as dia,
        extract(quarter from dias.data)::integer                             as trimestre,
        to_char(dias.data, 'YYYY-MM')::text                                  as ano_mes,
        (array[
            'janeiro', 'fevereiro', 'março', 'abril', 'maio', 'junho',
            'julho', 'agosto', 'setembro', 'outubro', 'novembro', 'dezembro'
        ])[dias.mes]::text                                                   as nome_mes,
        extract(isodow from dias.data)::integer                              as dia_da_semana,
        (array[
            'segunda-feira', 'terça-feira', 'quarta-feira', 'quinta-feira', 'sexta-feira', 'sábado', 'domingo'
        ])[extract(isodow from dias.data)::integer]::text                    as nome_dia_semana,
        extract(doy from dias.data)::integer                                 as dia_do_ano,
        extract(isoyear from dias.data)::integer                             as ano_iso,
        extract(week from dias.data)::integer                                as semana_iso,
        extract(isodow from dias.data) >= 6                                  as fim_de_semana,
        feriados_por_dia.data is not null                                    as feriado_nacional,
        feriados_por_dia.nome_feriado,
        pontos_facultativos.data is not null                                 as ponto_facultativo,
        pontos_facultativos.nome::text                                       as nome_ponto_facultativo,
        extract(isodow from dias.data) < 6 and feriados_por_dia.data is null as dia_util

    from dias
    left join feriados_por_dia
        on dias.data = feriados_por_dia.data
    left join pontos_facultativos
        on dias.data = pontos_facultativos.data

)

select * from final
