-- Care records per municipality and calendar day (days without records count zero, from the
-- municipality's first to its latest day with records), with the day before and the day-on-day
-- change. Incremental per municipality like fct_atendimento_individual_diario (macro
-- esus_corte_incremental); the day before the cut-off is read too, for its first day's change.
with

registros as (

    select * from {{ ref('int_atencao_primaria__registros_dia') }}

),

{% if is_incremental() %}
corte as (

    {{ esus_corte_incremental(
        this, 'data', 'qt_registros',
        ref('int_atencao_primaria__registros_dia'), 'data', 'sum(qt_registros)'
    ) }}

),
{% endif %}

janela as (

    select
        registros.*,
        {% if is_incremental() %}
        corte.data_corte,
        corte.primeira_data,
        corte.ultima_data
        {% else %}
        null::date as data_corte,
        null::date as primeira_data,
        null::date as ultima_data
        {% endif %}

    from registros
    {% if is_incremental() %}
    left join corte
        on registros.id_municipio = corte.id_municipio
    where corte.data_corte is null
        or registros.data >= corte.data_corte - 1
    {% endif %}

),

limites as (

    -- from the day before the cut-off (not before the municipality's first day), or from its first
    -- day if it is new, to its latest day in the source or in the table (when a late record
    -- changes a past day, the days after it get a new qt_dia_anterior too)
    select
        id_municipio,
        coalesce(greatest(min(data_corte) - 1, least(min(primeira_data), min(data))), min(data))
            as primeiro_dia,
        greatest(max(data), max(ultima_data)) as ultimo_dia,
        min(data_corte)                       as data_corte

    from janela
    group by id_municipio

),

dias as (

    select
        id_municipio,
        data_corte,
        generate_series(primeiro_dia, ultimo_dia, interval '1 day')::date as data

    from limites

),

diario as (

    select
        dias.id_municipio,
        dias.data,
        dias.data_corte,
        coalesce(janela.qt_atendimentos_individuais, 0)::bigint as qt_atendimentos_individuais,
        coalesce(janela.qt_vacinacoes, 0)::bigint               as qt_vacinacoes,
        coalesce(janela.qt_visitas_domiciliares, 0)::bigint     as qt_visitas_domiciliares,
        coalesce(janela.qt_registros, 0)::bigint                as qt_registros

    from dias
    left join janela
        on dias.id_municipio = janela.id_municipio
        and dias.data = janela.data

),

com_dia_anterior as (

    select
        *,
        lag(qt_registros) over (partition by id_municipio order by data) as qt_dia_anterior

    from diario

),

final as (

    select
        id_municipio,
        data,
        qt_atendimentos_individuais,
        qt_vacinacoes,
        qt_visitas_domiciliares,
        qt_registros,
        qt_dia_anterior,
        {{ indice_percentual('qt_registros - qt_dia_anterior', 'qt_dia_anterior') }}
            as variacao_percentual

    from com_dia_anterior
    -- the day before the window only served as the first day's previous day
    where data_corte is null
        or data >= data_corte

)

select * from final
