-- Water and sewage for Brazil by year: national sums over the providers and the indicators
-- recomputed from those sums (formulas in macros/saneamento.sql). The sums must equal the footer
-- totals of the SNIS export (tests/assert_brasil_totals_match_snis_footer.sql).
with

prestadores as (

    select * from {{ ref('fct_saneamento_prestador_ano') }}

),

somas as (

    select
        ano,
        {{ saneamento_somas() }}

    from prestadores
    group by ano

),

final as (

    select
        *,
        {{ saneamento_indices() }}

    from somas

)

select * from final
