-- One row per individual care record, with the national codes of where and by whom it was given
-- (CNES of the unit, INE of the team, CBO 2002 of the occupation) in place of the municipality's
-- own PEC dimension keys, which mean nothing outside its database.
with

atendimentos as (

    select * from {{ ref('stg_esus__atendimento_individual') }}

),

unidades as (

    select * from {{ ref('stg_esus__unidade_saude') }}

),

equipes as (

    select * from {{ ref('stg_esus__equipe') }}

),

cbos as (

    select * from {{ ref('stg_esus__cbo') }}

),

final as (

    select
        atendimentos.id_atendimento_individual,
        atendimentos.id_municipio,
        atendimentos.data_atendimento,
        unidades.id_estabelecimento_cnes,
        unidades.nome_unidade_saude,
        equipes.id_equipe_ine,
        equipes.nome_equipe,
        cbos.cbo_2002,
        cbos.descricao_cbo,
        atendimentos.id_pessoa_hash,
        -- a change to the record or to a dimension it takes a name from makes the day recomputed
        greatest(
            atendimentos.data_hora_carga, unidades.data_hora_carga, equipes.data_hora_carga,
            cbos.data_hora_carga
        ) as data_hora_carga

    from atendimentos
    left join unidades
        on atendimentos.id_municipio = unidades.id_municipio
        and atendimentos.id_unidade_saude = unidades.id_unidade_saude
    left join equipes
        on atendimentos.id_municipio = equipes.id_municipio
        and atendimentos.id_equipe = equipes.id_equipe
    left join cbos
        on atendimentos.id_municipio = cbos.id_municipio
        and atendimentos.id_cbo = cbos.id_cbo

)

select * from final
