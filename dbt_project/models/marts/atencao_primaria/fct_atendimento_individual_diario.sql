-- Individual care per day, municipality, health unit (CNES), team (INE) and occupation (CBO).
-- Incremental per municipality (macro esus_corte_incremental): each run recomputes, for every
-- municipality, its last `esus_dias_reprocessados` days, any earlier day whose record count changed
-- (late records), any day with a record or dimension row written by the loader since the last
-- build (a ficha or a name changed in place at the source), and everything newer; delete+insert
-- on (data_atendimento, id_municipio) replaces those municipality-days whole.
with

atendimentos as (

    select * from {{ ref('int_atencao_primaria__atendimento_individual') }}

),

{% if is_incremental() %}
corte as (

    {{ esus_corte_incremental(
        this, 'data_atendimento', 'qt_atendimentos',
        ref('int_atencao_primaria__atendimento_individual'), 'data_atendimento',
        coluna_carga='data_hora_carga'
    ) }}

),
{% endif %}

novos as (

    select atendimentos.*
    from atendimentos
    {% if is_incremental() %}
    left join corte
        on atendimentos.id_municipio = corte.id_municipio
    where corte.data_corte is null
        or atendimentos.data_atendimento >= corte.data_corte
    {% endif %}

),

final as (

    select
        data_atendimento,
        id_municipio,
        id_estabelecimento_cnes,
        max(nome_unidade_saude)                as nome_unidade_saude,
        id_equipe_ine,
        max(nome_equipe)                       as nome_equipe,
        cbo_2002,
        max(descricao_cbo)                     as descricao_cbo,
        count(*)::bigint                       as qt_atendimentos,
        count(distinct id_pessoa_hash)::bigint as qt_pessoas_distintas,
        max(data_hora_carga)                   as data_hora_carga

    from novos
    group by data_atendimento, id_municipio, id_estabelecimento_cnes, id_equipe_ine, cbo_2002

)

select * from final
