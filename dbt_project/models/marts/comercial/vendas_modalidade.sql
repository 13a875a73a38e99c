-- Sales per modality (loja, online, televendas, representante) and month (macro comercial_vendas_por).
{{ comercial_vendas_por(['modalidade', 'ano', 'mes']) }}
