{#-
    Columns of a commercial (CRM / ERP) model whose name says it holds a person's contact data in
    clear: e-mail, phone, a contact person's name. The CRM's personal data stops in staging (e-mail
    as id_email_hash, phones and person names dropped); this fails as soon as a model adds such a
    column. The values of the marts are scanned by tests/test_pii_scan.py.
-#}
{% test comercial_sem_colunas_pessoais(model) %}

select column_name as coluna_pessoal
from information_schema.columns
where table_schema = '{{ model.schema }}'
  and table_name = '{{ model.identifier }}'
  and column_name !~ '_hash$'
  and (
        column_name ~ '(^|_)(email|e_mail|telefone|celular|phone|phones|whatsapp|cpf)($|_)'
     or column_name in ('name', 'nome', 'nome_contato', 'contato', 'nome_pessoa', 'content', 'conteudo')
  )

{% endtest %}
