-- Vaccine doses given per municipality, vaccine and month.
with

doses as (

    select * from {{ ref('int_atencao_primaria__vacinacao_dose') }}

),

final as (

    select
        id_municipio,
        extract(year from data_vacinacao)::integer  as ano,
        extract(month from data_vacinacao)::integer as mes,
        sigla_imunobiologico,
        max(nome_imunobiologico)                    as nome_imunobiologico,
        count(*)::bigint                            as qt_doses

    from doses
    group by id_municipio, ano, mes, sigla_imunobiologico

)

select * from final
