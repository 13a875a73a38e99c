{#-
    Columns of the model whose name says it holds personal documents or contact data in clear:
    CNS, CPF, phone, e-mail, names of citizens. e-SUS models carry people only as id_pessoa_hash
    (macro esus_pii_hash); this fails as soon as a model adds such a column, views included. The
    values themselves are scanned by tests/test_pii_scan.py.
-#}
{% test esus_sem_colunas_pessoais(model) %}

select column_name as coluna_pessoal
from information_schema.columns
where table_schema = '{{ model.schema }}'
  and table_name = '{{ model.identifier }}'
  and (
        column_name ~ '(^|_)(cns|cpf|telefone|celular|email)($|_)'
     or column_name in ('no_cidadao', 'no_social_cidadao', 'nome_cidadao', 'nome_social',
                        'nome_mae', 'nome_pai')
  )

{% endtest %}
