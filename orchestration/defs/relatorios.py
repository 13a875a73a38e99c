"""Finance domain, monthly reports: asset `relatorios/financeiro_mensal`, partitioned by month, writes
the month's income statement and cash flow as PDF and CSV into the reports archive
(orchestration/relatorios.py renders, mirante/relatorios.py archives; the data API serves them).

Partitions: one per month from RELATORIOS_INICIO (the first month of the finance history) to the
last complete month, in America/Sao_Paulo. Schedule `relatorios_mensal` materializes the partition of
the previous month on the 1st at 10:00 (Brasília), after the 09:30 finance rebuild (financas.py).
The daily and file-driven jobs (`mirante_all`, `financas`, `financas_arquivos`) leave the reports out:
a month's report is asked for by its partition (the schedule, `mirante run` for the latest month, or
a backfill in the UI), not rebuilt with every load.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    MonthlyPartitionsDefinition,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from mirante.orchestration.resources import Warehouse

#: the first month of the finance history (the offline world's files start in January 2025)
RELATORIOS_INICIO = "2025-01"
#: the key prefix of the report assets (left out of the jobs that rebuild the marts)
PREFIX = "relatorios"
KEY = AssetKey([PREFIX, "financeiro_mensal"])
DEPS = (AssetKey(["marts", "agg_dre_mes"]), AssetKey(["marts", "fct_fluxo_caixa_diario"]))

MESES = MonthlyPartitionsDefinition(
    start_date=RELATORIOS_INICIO,
    timezone="America/Sao_Paulo",
    fmt="%Y-%m",
    day_offset=1,
    hour_offset=10,
)


def mes_a_gerar(url: str) -> str | None:
    """The month whose reports a run writes: the latest month both marts hold (ultimo_mes), or the
    latest complete month when the data reach into the current one (a partition exists only for a
    complete month); None when the marts hold no month of the partitions' range."""
    from mirante.orchestration.relatorios import ultimo_mes

    ultimo = ultimo_mes(url)
    keys = [k for k in MESES.get_partition_keys() if ultimo and k <= ultimo]
    return keys[-1] if keys else None


@asset(
    key=KEY,
    partitions_def=MESES,
    deps=list(DEPS),
    group_name="financas",
    kinds={"pdf", "csv"},
    description="The month's income statement (DRE) and daily cash flow as PDF and CSV "
    "(dre_AAAA-MM.pdf/.csv, fluxo_caixa_AAAA-MM.pdf/.csv), archived with every earlier version in "
    "MIRANTE_RELATORIOS_DIR (manifest relatorios.json) and served by GET /v1/relatorios.",
)
def financeiro_mensal(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    from mirante import relatorios as arquivo
    from mirante.orchestration import relatorios

    mes = context.partition_key
    try:
        gerados = relatorios.gerar(warehouse.url("reader"), mes)
    except relatorios.SemDados as exc:
        raise Failure(f"no report for {mes}: {exc}") from exc
    for entry, novo in gerados:
        context.log.info(
            f"{entry.nome}: version {entry.versao} ({'new' if novo else 'unchanged, kept'}), sha256 {entry.sha256}"
        )
    return MaterializeResult(
        metadata={
            "pasta": MetadataValue.path(str(arquivo.folder() / mes)),
            "arquivos": MetadataValue.json(
                {
                    e.nome: {"versao": e.versao, "sha256": e.sha256, "bytes": e.bytes, "novo": n}
                    for e, n in gerados
                }
            ),
            "novas_versoes": sum(1 for _, n in gerados if n),
        }
    )


relatorios_job = define_asset_job(
    "relatorios_financeiros",
    selection=AssetSelection.assets(KEY),
    partitions_def=MESES,
    description="The monthly finance reports (DRE and cash flow, PDF and CSV) of one month.",
)

relatorios_mensal = build_schedule_from_partitioned_job(
    relatorios_job,
    name="relatorios_mensal",
    description="On the 1st at 10:00 (Brasília): the reports of the previous month.",
    default_status=DefaultScheduleStatus.RUNNING,
)

defs = Definitions(assets=[financeiro_mensal], jobs=[relatorios_job], schedules=[relatorios_mensal])
