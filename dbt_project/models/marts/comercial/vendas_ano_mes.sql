-- Sales per month: revenue, orders, items and average ticket of the non-cancelled ERP orders
-- (macro comercial_vendas_por).
{{ comercial_vendas_por(['ano', 'mes']) }}
