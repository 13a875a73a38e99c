-- Water and sewage by UF (of the providers' head office) and year: sums over the providers and the
-- indicators recomputed from those sums (formulas in macros/saneamento.sql).
with

prestadores as (

    select * from {{ ref('fct_saneamento_prestador_ano') }}

),

somas as (

    select
        sigla_uf,
        ano,
        {{ saneamento_somas() }}

    from prestadores
    group by sigla_uf, ano

),

final as (

    select
        *,
        {{ saneamento_indices() }}

    from somas

)

select * from final
