-- One row per provider and year, as exported by SNIS: renamed (SNIS code -> Base dos Dados name,
-- code kept in each column's meta) and cast. Keeps the keys and the columns the marts use.
with

source as (

    select * from {{ source('raw_snis', 'agua_esgoto_agregado') }}

),

renamed as (

    select
        -- keys
        ano_referencia::integer as ano,
        codigo_prestador::text  as id_prestador,
        codigo_municipio::text  as id_municipio_6,

        -- provider
        trim(municipio)         as nome_municipio,
        trim(estado)            as sigla_uf,
        trim(prestador)         as nome_prestador,
        trim(sigla_prestador)   as sigla_prestador,
        trim(abrangencia)       as abrangencia,
        trim(tipo_servico)      as tipo_servico,
        trim(natureza_juridica) as natureza_juridica,

        -- populations (inhabitants; whole numbers exported with 2 decimals)
        g12a::bigint            as populacao_total_residente_agua,
        g12b::bigint            as populacao_total_residente_esgoto,
        g06a::bigint            as populacao_urbana_residente_agua,
        g06b::bigint            as populacao_urbana_residente_esgoto,
        ag001::bigint           as populacao_atendida_agua,
        es001::bigint           as populacao_atendida_esgoto,
        ag026::bigint           as populacao_urbana_atendida_agua,
        es026::bigint           as populacao_urbana_atendida_esgoto,

        -- volumes (1,000 m3 per year)
        ag006::numeric(38, 2)   as volume_agua_produzido,
        ag018::numeric(38, 2)   as volume_agua_tratada_importado,
        ag024::numeric(38, 2)   as volume_servico_agua,
        ag010::numeric(38, 2)   as volume_agua_consumido,
        ag011::numeric(38, 2)   as volume_agua_faturado,
        es005::numeric(38, 2)   as volume_esgoto_coletado,
        es006::numeric(38, 2)   as volume_esgoto_tratado,

        -- indicators as computed by SNIS
        in055::numeric(38, 2)   as indice_atendimento_total_agua,
        in056::numeric(38, 2)   as indice_atendimento_total_esgoto,
        in049::numeric(38, 2)   as indice_perda_distribuicao_agua,
        in022::numeric(38, 2)   as indice_consumo_agua_per_capita,

        -- lineage
        _file_name::text        as nome_arquivo,
        _line_number::integer   as numero_linha_arquivo

    from source

)

select * from renamed
