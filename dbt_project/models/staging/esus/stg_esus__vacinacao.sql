-- One row per vaccination record (ficha de vacinação: one person vaccinated at one visit; the
-- doses are in stg_esus__vacinacao_dose). CNS and CPF are replaced by id_pessoa_hash.
with

source as (

    select * from {{ source('raw_esus', 'tb_fat_vacinacao') }}

),

renamed as (

    select
        -- keys
        co_seq_fat_vacinacao::bigint                    as id_vacinacao,
        id_municipio::text                              as id_municipio,

        -- when
        {{ esus_data_de_tempo('co_dim_tempo') }}        as data_vacinacao,
        dt_inicial_atendimento::timestamp               as data_hora_inicio_atendimento,

        -- where and by whom
        co_dim_unidade_saude::bigint                    as id_unidade_saude,
        co_dim_equipe::bigint                           as id_equipe,
        co_dim_cbo::bigint                              as id_cbo,

        -- who
        co_fat_cidadao_pec::bigint                      as id_cidadao_pec,
        {{ esus_pii_hash('nu_cpf_cidadao', 'nu_cns') }} as id_pessoa_hash

    from source

)

select * from renamed
