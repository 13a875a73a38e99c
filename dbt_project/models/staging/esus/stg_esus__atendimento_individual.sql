-- One row per individual care record (ficha de atendimento individual) of a municipal PEC.
-- CNS and CPF are replaced by the person key id_pessoa_hash (macro esus_pii_hash).
with

source as (

    select * from {{ source('raw_esus', 'tb_fat_atendimento_individual') }}

),

renamed as (

    select
        -- keys
        co_seq_fat_atd_ind::bigint                      as id_atendimento_individual,
        id_municipio::text                              as id_municipio,

        -- when
        {{ esus_data_de_tempo('co_dim_tempo') }}        as data_atendimento,
        dt_inicial_atendimento::timestamp               as data_hora_inicio_atendimento,

        -- where and by whom (keys of the municipality's PEC dimensions)
        co_dim_unidade_saude_1::bigint                  as id_unidade_saude,
        co_dim_equipe_1::bigint                         as id_equipe,
        co_dim_cbo_1::bigint                            as id_cbo,
        co_dim_profissional_1::bigint                   as id_profissional,
        co_dim_tipo_atendimento::bigint                 as id_tipo_atendimento,
        co_dim_local_atendimento::bigint                as id_local_atendimento,

        -- who
        co_dim_sexo::bigint                             as id_sexo,
        co_dim_faixa_etaria::bigint                     as id_faixa_etaria,
        co_fat_cidadao_pec::bigint                      as id_cidadao_pec,
        {{ esus_pii_hash('nu_cpf_cidadao', 'nu_cns') }} as id_pessoa_hash,

        -- lineage: when the loader last wrote the row (inserted, or changed at the source)
        _carregado_em::timestamptz                      as data_hora_carga

    from source

)

select * from renamed
