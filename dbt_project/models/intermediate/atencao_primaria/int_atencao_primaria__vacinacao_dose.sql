-- One row per vaccine dose, with the vaccine's acronym and name instead of the municipality's own
-- PEC dimension key.
with

doses as (

    select * from {{ ref('stg_esus__vacinacao_dose') }}

),

imunobiologicos as (

    select * from {{ ref('stg_esus__imunobiologico') }}

),

final as (

    select
        doses.id_vacinacao_dose,
        doses.id_municipio,
        doses.data_vacinacao,
        imunobiologicos.sigla_imunobiologico,
        imunobiologicos.nome_imunobiologico

    from doses
    left join imunobiologicos
        on doses.id_municipio = imunobiologicos.id_municipio
        and doses.id_imunobiologico = imunobiologicos.id_imunobiologico

)

select * from final
