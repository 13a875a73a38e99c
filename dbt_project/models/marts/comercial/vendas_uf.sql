-- Sales per delivery UF and month (macro comercial_vendas_por).
{{ comercial_vendas_por(['sigla_uf', 'ano', 'mes']) }}
