-- One row per home visit by a community agent (ficha de visita domiciliar e territorial).
-- CNS and CPF of the visited person are replaced by id_pessoa_hash.
with

source as (

    select * from {{ source('raw_esus', 'tb_fat_visita_domiciliar') }}

),

renamed as (

    select
        -- keys
        co_seq_fat_visita_domiciliar::bigint            as id_visita_domiciliar,
        id_municipio::text                              as id_municipio,

        -- when
        {{ esus_data_de_tempo('co_dim_tempo') }}        as data_visita,

        -- where and by whom
        co_dim_unidade_saude::bigint                    as id_unidade_saude,
        co_dim_equipe::bigint                           as id_equipe,
        co_dim_cbo::bigint                              as id_cbo,
        co_dim_profissional::bigint                     as id_profissional,

        -- visit
        co_dim_desfecho_visita::bigint                  as id_desfecho_visita,
        co_dim_tipo_imovel::bigint                      as id_tipo_imovel,

        -- who
        co_fat_cidadao_pec::bigint                      as id_cidadao_pec,
        {{ esus_pii_hash('nu_cpf_cidadao', 'nu_cns') }} as id_pessoa_hash

    from source

)

select * from renamed
