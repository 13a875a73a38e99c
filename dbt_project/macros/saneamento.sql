{#-
    The columns of fct_saneamento_prestador_ano that the aggregates sum: column -> (SNIS code it
    holds, SQL type of its sum). Each is a SNIS "informação", so its national sum must equal the
    footer total of the year's complete SNIS export (tests/assert_brasil_totals_match_snis_footer.sql);
    the code here is independent of the staging rename, so that test also checks the rename.
-#}
{% macro saneamento_colunas_somadas() %}
    {{ return({
        'populacao_total_residente_agua':    ('g12a',  'bigint'),
        'populacao_total_residente_esgoto':  ('g12b',  'bigint'),
        'populacao_urbana_residente_agua':   ('g06a',  'bigint'),
        'populacao_urbana_residente_esgoto': ('g06b',  'bigint'),
        'populacao_atendida_agua':           ('ag001', 'bigint'),
        'populacao_atendida_esgoto':         ('es001', 'bigint'),
        'populacao_urbana_atendida_agua':    ('ag026', 'bigint'),
        'populacao_urbana_atendida_esgoto':  ('es026', 'bigint'),
        'volume_agua_produzido':             ('ag006', 'numeric(38, 2)'),
        'volume_agua_tratada_importado':     ('ag018', 'numeric(38, 2)'),
        'volume_servico_agua':               ('ag024', 'numeric(38, 2)'),
        'volume_agua_consumido':             ('ag010', 'numeric(38, 2)'),
        'volume_agua_faturado':              ('ag011', 'numeric(38, 2)'),
        'volume_esgoto_coletado':            ('es005', 'numeric(38, 2)'),
        'volume_esgoto_tratado':             ('es006', 'numeric(38, 2)'),
    }) }}
{% endmacro %}


{#-
    Select list of an aggregate of fct_saneamento_prestador_ano (used inside a GROUP BY): number of
    providers, the sum of every column of saneamento_colunas_somadas(), and the bases of the coverage
    indicators: the resident population (G12A) of the providers that report the served population
    (AG001 for water, ES001 for sewage), i.e. of the providers for which SNIS defines IN055 / IN056.
-#}
{% macro saneamento_somas() %}
        count(*)::bigint as quantidade_prestadores,
        {%- for coluna, (codigo_snis, tipo) in saneamento_colunas_somadas().items() %}
        sum({{ coluna }})::{{ tipo }} as {{ coluna }},
        {%- endfor %}
        (sum(populacao_total_residente_agua)
            filter (where populacao_atendida_agua is not null))::bigint
            as populacao_residente_referencia_agua,
        (sum(populacao_total_residente_agua)
            filter (where populacao_atendida_esgoto is not null))::bigint
            as populacao_residente_referencia_esgoto
{%- endmacro %}


{#-
    Indicators recomputed from the sums of saneamento_somas() with SNIS's own formulas (as the SNIS
    Diagnóstico does for regions), not averaged from the providers' indicators:
      indice_atendimento_total_agua   = 100 * Σ AG001 / Σ G12A over providers reporting AG001 (IN055)
      indice_atendimento_total_esgoto = 100 * Σ ES001 / Σ G12A over providers reporting ES001 (IN056)
      indice_perda_distribuicao_agua  = 100 * (Σ AG006 + Σ AG018 − Σ AG010 − Σ AG024)
                                            / (Σ AG006 + Σ AG018 − Σ AG024)                  (IN049)
    The coverage indices equal the providers' IN055 / IN056 weighted by their G12A.
-#}
{% macro saneamento_indices() %}
        {{ indice_percentual('populacao_atendida_agua', 'populacao_residente_referencia_agua') }}
            as indice_atendimento_total_agua,
        {{ indice_percentual('populacao_atendida_esgoto', 'populacao_residente_referencia_esgoto') }}
            as indice_atendimento_total_esgoto,
        {{ indice_percentual(
            'volume_agua_produzido + coalesce(volume_agua_tratada_importado, 0)
                - volume_agua_consumido - coalesce(volume_servico_agua, 0)',
            'volume_agua_produzido + coalesce(volume_agua_tratada_importado, 0)
                - coalesce(volume_servico_agua, 0)'
        ) }}
            as indice_perda_distribuicao_agua
{%- endmacro %}
