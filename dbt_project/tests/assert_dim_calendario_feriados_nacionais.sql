-- The calendar's holiday rule on known dates and per year; one row per violation.
-- Per year: 9 national holidays up to 2023, 10 from 2024 (20/11, Lei 14.759/2023); in 2000 Good
-- Friday fell on Tiradentes (21/04), so that year has 8 holiday days.
with

calendario as (

    select * from {{ ref('dim_calendario') }}

),

esperado as (

    select *
    from (
        values
        ('2024-03-29'::date, true, false, 'Sexta-feira da Paixão'),
        ('2025-04-18'::date, true, false, 'Sexta-feira da Paixão'),
        ('2026-04-03'::date, true, false, 'Sexta-feira da Paixão'),
        ('2000-04-21'::date, true, false, 'Sexta-feira da Paixão / Tiradentes'),
        ('2023-11-20'::date, false, false, null),
        ('2024-11-20'::date, true, false, 'Dia Nacional de Zumbi e da Consciência Negra'),
        ('2025-03-03'::date, false, true, null),
        ('2025-03-04'::date, false, true, null),
        ('2025-06-19'::date, false, true, null),
        ('2025-12-25'::date, true, false, 'Natal')
    ) as e (data, feriado_nacional, ponto_facultativo, nome_feriado)

),

datas_conhecidas as (

    select
        esperado.data,
        'data conhecida: ' || esperado.data::text as motivo

    from esperado
    left join calendario
        on esperado.data = calendario.data
    where
        calendario.data is null
        or calendario.feriado_nacional <> esperado.feriado_nacional
        or calendario.ponto_facultativo <> esperado.ponto_facultativo
        or calendario.nome_feriado is distinct from esperado.nome_feriado

),

por_ano as (

    select
        make_date(ano, 1, 1)                                            as data,
        'feriados no ano: ' || count(*) filter (where feriado_nacional) as motivo

    from calendario
    group by ano
    having
        count(*) filter (where feriado_nacional)
        <> case when ano = 2000 then 8 when ano < 2024 then 9 else 10 end
        or count(*) filter (where nome_feriado like '%Sexta-feira da Paixão%' and dia_da_semana = 5) <> 1

),

regra_do_dia as (

    select
        data,
        'dia_util, fim_de_semana ou nomes incoerentes' as motivo

    from calendario
    where
        dia_util <> (not fim_de_semana and not feriado_nacional)
        or fim_de_semana <> (dia_da_semana in (6, 7))
        or feriado_nacional <> (nome_feriado is not null)
        or ponto_facultativo <> (nome_ponto_facultativo is not null)

)

select * from datas_conhecidas
union all
select * from por_ano
union all
select * from regra_do_dia
