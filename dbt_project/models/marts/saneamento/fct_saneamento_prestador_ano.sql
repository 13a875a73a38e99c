-- One row per water/sewage service provider and year (SNIS base agregada), located at the
-- municipality of its head office.
with

prestadores as (

    select * from {{ ref('int_saneamento__prestador_municipio') }}

),

final as (

    select
        ano,
        id_prestador,
        id_municipio,
        sigla_uf,
        nome_prestador,
        sigla_prestador,
        abrangencia,
        tipo_servico,
        natureza_juridica,

        populacao_total_residente_agua,
        populacao_total_residente_esgoto,
        populacao_urbana_residente_agua,
        populacao_urbana_residente_esgoto,
        populacao_atendida_agua,
        populacao_atendida_esgoto,
        populacao_urbana_atendida_agua,
        populacao_urbana_atendida_esgoto,

        volume_agua_produzido,
        volume_agua_tratada_importado,
        volume_servico_agua,
        volume_agua_consumido,
        volume_agua_faturado,
        volume_esgoto_coletado,
        volume_esgoto_tratado,

        indice_atendimento_total_agua,
        indice_atendimento_total_esgoto,
        indice_perda_distribuicao_agua,
        indice_consumo_agua_per_capita,

        nome_arquivo

    from prestadores

)

select * from final
