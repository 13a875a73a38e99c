{#-
    Macros of the ledger's staging (raw_razao: changelogs written by the change data capture).
-#}


{#-
    The current state of a source table from its changelog: per key, the latest change by
    (_commit_lsn, _ordem) (commit order, then the position within the transaction); a key whose
    latest change is a delete is gone. Snapshot rows are the state at the slot's consistent point
    and every later change has a higher commit LSN, so the fold needs no special case for them.
    Every column of the changelog is returned (the source's and the _ metadata).
-#}
{% macro razao_estado_atual(tabela, chave) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ chave }} order by _commit_lsn desc, _ordem desc
            ) as _versao
        from {{ source('raw_razao', tabela) }}
    ) as changelog
    where _versao = 1 and _operacao <> 'delete'
{%- endmacro %}
