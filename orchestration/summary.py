"""The summary `mirante run` prints: rows per raw table and mart, quarantine, the e-SUS run log,
the commercial KPIs, SNIS footer reconciliation and every check's verdict. Kept apart from the
runner (orchestration/run.py) so that the runner only runs."""

from __future__ import annotations

import psycopg

from mirante import config


def _count_tables(conn: psycopg.Connection, schemas: tuple[str, ...]) -> list[tuple[str, int]]:
    tables = conn.execute(
        """select table_schema, table_name from information_schema.tables
           where table_schema = any(%s) and table_type = 'BASE TABLE' and table_name not like '\\_dlt%%'
             and not (select relispartition from pg_class
                      where oid = format('%%I.%%I', table_schema, table_name)::regclass)
           order by 1, 2""",
        (list(schemas),),
    ).fetchall()
    return [(f"{s}.{t}", conn.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]) for s, t in tables]


def summary(srv: config.Server, result, pulls: dict | None = None) -> str:
    lines = []
    with psycopg.connect(srv.url("transformer")) as conn:
        if pulls and conn.execute("select to_regclass('raw_esus.execucoes')").fetchone()[0]:
            status = dict(
                conn.execute(
                    """select id_municipio, bool_and(status = 'sucesso') from raw_esus.execucoes
                   where id_execucao = any(%s) group by 1""",
                    ([r.run_id for r in pulls.values()],),
                ).fetchall()
            )
            failed = sorted(i for i, ok in status.items() if not ok)
            lines.append(
                f"e-SUS PEC pulls: {len(status) - len(failed)}/{len(status)} municipalities loaded"
                + (f" (failed: {', '.join(failed)})" if failed else "")
            )
        lines.append("rows per raw table:")
        lines += [f"  {name:<45} {n:>9,}" for name, n in _count_tables(conn, config.RAW_SCHEMAS)]
        lines.append("rows per mart:")
        lines += [f"  {name:<45} {n:>9,}" for name, n in _count_tables(conn, (config.MARTS_SCHEMA,))]
        # every raw schema with a quarantine: the rows of files (SNIS exports, finance history files)
        # once each (one row per bad cell: distinct (arquivo, linha)), the items of an API (BCB) as rows
        quarantined = 0
        for schema in config.RAW_SCHEMAS:
            columns = {
                c
                for (c,) in conn.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = %s and table_name = 'quarentena'",
                    (schema,),
                )
            }
            if columns:
                counted = "distinct (arquivo, linha)" if {"arquivo", "linha"} <= columns else "*"
                quarantined += conn.execute(f'select count({counted}) from "{schema}".quarentena').fetchone()[
                    0
                ]
        lines.append(f"rows quarantined: {quarantined:,}")
        if pulls and conn.execute("select to_regclass('raw_esus.execucoes')").fetchone()[0]:
            lines.append(
                "e-SUS run log of this run (municipality: status, fact rows written / read, attempts, "
                "reconciliation, error):"
            )
            for row in conn.execute(
                """select id_municipio, min(status), sum(linhas) filter (where tabela like 'tb_fat%%'),
                              sum(linhas_lidas) filter (where tabela like 'tb_fat%%'), max(tentativas),
                              count(*) filter (where reconciliacao = 'ok'), count(reconciliacao),
                              max(codigo_erro), max(erro)
                       from raw_esus.execucoes where id_execucao = any(%s)
                       group by 1 order by 1""",
                ([r.run_id for r in pulls.values()],),
            ):
                ident, status, written, read, attempts, ok, checked, code, error = row
                lines.append(
                    f"  {ident}  {status:<8} {written or 0:>7,} / {read or 0:>7,} rows  {attempts} attempt(s)"
                    f"  reconciled {ok}/{checked}" + (f"  {code}: {error}" if code else "")
                )
        lines += _comercial_summary(conn)
        lines.append("reconciliation with each file's footer (columns matching / columns with a footer):")
        for arquivo, ok, n, rows in conn.execute(
            """select arquivo, count(*) filter (where status = 'ok'), count(*), max(linhas_carregadas)
                   from raw_snis.reconciliacao group by 1 order by 1"""
        ):
            lines.append(f"  {arquivo:<45} {ok}/{n} ({rows:,} rows loaded){'' if ok == n else '  DIVERGES'}")
    evaluations = result.get_asset_check_evaluations() + [
        e for r in (pulls or {}).values() for e in r.get_asset_check_evaluations()
    ]
    passed = sum(1 for e in evaluations if e.passed)
    lines.append(f"checks: {passed} passed, {len(evaluations) - passed} failed")
    for e in evaluations:
        if not e.passed:
            lines.append(f"  failed: {e.asset_key.to_user_string()} {e.check_name} ({e.severity.value})")
    lines += _sla_summary(srv)
    lines.append(f"run: {'SUCCESS' if result.success else 'FAILURE'} ({result.run_id})")
    return "\n".join(lines)


def _sla_summary(srv: config.Server) -> list[str]:
    """Each process's latest SLA evaluation (operacao.avaliacoes_sla, written by the checks
    sla_<processo> during the run; orchestration/slas.yml)."""
    from mirante.orchestration.sla import human, load

    table = f"{config.OPERATIONS_SCHEMA}.{config.SLA_STATE_TABLE}"
    with psycopg.connect(srv.url("transformer")) as conn:
        rows = conn.execute(
            f"select processo, ok, limite_segundos, observado_segundos, detalhe from {table} order by processo"
        ).fetchall()
    if not rows:
        return []
    breached = [r for r in rows if not r[1]]
    out = [f"SLAs: {len(rows) - len(breached)} within, {len(breached)} breached (orchestration/slas.yml)"]
    configured = {s.processo: s for s in load()}
    for processo, ok, limit, observed, detalhe in rows:
        seen = "-" if observed is None else human(round(observed))
        shown = configured[processo].limite_texto() if processo in configured else human(limit)
        out.append(f"  {processo:<18} {'ok' if ok else 'BREACHED':<8} {seen:>7} (limite {shown})  {detalhe}")
    return out


def _comercial_summary(conn: psycopg.Connection) -> list[str]:
    """The commercial KPIs of the latest month with sales (marts vendas_ano_mes, kpi_comercial_diario
    and receita_recorrente_mensal)."""
    if not conn.execute("select to_regclass('marts.vendas_ano_mes')").fetchone()[0]:
        return []
    row = conn.execute(
        """with mes as (select ano, mes from marts.vendas_ano_mes order by ano desc, mes desc limit 1)
           select v.ano, v.mes, v.receita, v.pedidos, v.itens, v.ticket_medio,
                  sum(k.leads), sum(k.negocios_ganhos), sum(k.negocios_perdidos),
                  round(100.0 * sum(k.negocios_ganhos)
                        / nullif(sum(k.negocios_ganhos) + sum(k.negocios_perdidos), 0), 2),
                  round(sum(k.valor_medio_negocio * k.negocios_ganhos) / nullif(sum(k.negocios_ganhos), 0), 2),
                  round(sum(k.ciclo_vendas_dias * k.negocios_ganhos) / nullif(sum(k.negocios_ganhos), 0), 1),
                  r.mrr, r.contratos_ativos
           from mes
           join marts.vendas_ano_mes v using (ano, mes)
           left join marts.kpi_comercial_diario k
             on extract(year from k.data) = v.ano and extract(month from k.data) = v.mes
           left join marts.receita_recorrente_mensal r using (ano, mes)
           group by v.ano, v.mes, v.receita, v.pedidos, v.itens, v.ticket_medio, r.mrr, r.contratos_ativos"""
    ).fetchone()
    if row is None:
        return []
    ano, mes, receita, pedidos, itens, ticket, leads, ganhos, perdidos, taxa, valor, ciclo, mrr, ativos = row
    return [
        f"commercial KPIs of {ano}-{mes:02d} (latest month with sales):",
        f"  receita R$ {receita:,.2f}, pedidos {pedidos:,}, itens {itens:,.0f}, ticket medio R$ {ticket:,.2f}",
        f"  leads {leads}, negocios ganhos {ganhos} / perdidos {perdidos}, taxa de conversao {taxa} %, "
        f"valor medio R$ {valor or 0:,.2f}, ciclo de vendas {ciclo} dias",
        f"  MRR R$ {mrr or 0:,.2f} ({ativos or 0} contratos ativos)",
    ]
