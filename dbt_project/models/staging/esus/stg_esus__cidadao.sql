-- One row per citizen known to a municipal PEC. CNS and CPF are replaced by id_pessoa_hash;
-- names, social names and phones are never loaded.
with

source as (

    select * from {{ source('raw_esus', 'tb_fat_cidadao_pec') }}

),

renamed as (

    select
        -- keys
        co_seq_fat_cidadao_pec::bigint                      as id_cidadao_pec,
        id_municipio::text                                  as id_municipio,
        co_cidadao::bigint                                  as id_cidadao,
        {{ esus_pii_hash('nu_cpf_cidadao', 'nu_cns') }}     as id_pessoa_hash,

        -- person
        co_dim_sexo::bigint                                 as id_sexo,
        {{ esus_data_de_tempo('co_dim_tempo_nascimento') }} as data_nascimento,
        (st_faleceu = 1)                                    as faleceu,

        -- attachment to the territory
        co_dim_unidade_saude_vinc::bigint                   as id_unidade_saude_vinculo,
        co_dim_equipe_vinc::bigint                          as id_equipe_vinculo

    from source

)

select * from renamed
