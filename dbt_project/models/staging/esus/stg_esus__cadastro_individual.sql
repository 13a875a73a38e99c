-- One row per individual registration form (ficha de cadastro individual) of the territory.
-- CNS and CPF are replaced by id_pessoa_hash.
with

source as (

    select * from {{ source('raw_esus', 'tb_fat_cad_individual') }}

),

renamed as (

    select
        -- keys
        co_seq_fat_cad_individual::bigint               as id_cadastro_individual,
        id_municipio::text                              as id_municipio,

        -- when, where
        {{ esus_data_de_tempo('co_dim_tempo') }}        as data_cadastro,
        co_dim_unidade_saude::bigint                    as id_unidade_saude,
        co_dim_equipe::bigint                           as id_equipe,

        -- who
        co_dim_sexo::bigint                             as id_sexo,
        co_fat_cidadao_pec::bigint                      as id_cidadao_pec,
        {{ esus_pii_hash('nu_cpf_cidadao', 'nu_cns') }} as id_pessoa_hash,

        -- status of the form
        (st_ficha_inativa = 1)                          as ficha_inativa,
        (st_recusa_cadastro = 1)                        as recusa_cadastro

    from source

)

select * from renamed
