"""The e-SUS pull split into batches of municipalities, one step each: what spreads the daily pull
over several `mirante worker` processes (MIRANTE_EXECUTOR=celery, orchestration/executor.py).

The asset job `esus_pull` (defs/atencao_primaria.py) pulls the whole registry in ONE step, which
one worker would run alone. Job `esus_pull_lotes` has MIRANTE_ESUS_LOTES (default 4) steps
`lote_<k>`, each pulling the enabled municipalities k, k+N, k+2N ... of the registry (sorted by
id) with the same loader (loaders/esus/pull.py), so each batch keeps its guarantees: it publishes
in its own transactions, reruns add nothing (cursors and keys), a municipality locked by another
run is waited for. Each step records the materialization of every municipality it loaded (the
partitions of raw_esus_pec) and its checks (reconciliation, lateness, volume) for those
municipalities; a step whose municipalities failed fails naming them, the other steps go on.
Once every batch loaded, step `suites_raw_esus` runs the Great Expectations suites of raw_esus
(the checks `ge_<table>` the asset job runs after its pull).
Batches take slots of the `esus` pool (MIRANTE_ESUS_CONCURRENCY), and the job's runs count
against the instance's limit on e-SUS runs, as `esus_pull` does.

With MIRANTE_EXECUTOR=celery the daily schedule `esus_daily` launches this job; in process it
launches `esus_pull` (one step: no worker to spread over). Re-pulling a day range (`desde`/`ate`) and
per-municipality reruns stay on `esus_pull`.
"""

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    In,
    Nothing,
    OpExecutionContext,
    Out,
    RunRequest,
    ScheduleEvaluationContext,
    job,
    op,
    schedule,
)
from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG

from mirante import config
from mirante.loaders.esus import DATASET, TABLES, read_settings, registry
from mirante.orchestration import lineage
from mirante.orchestration.instance import CONCURRENCY_TAG, ESUS_POOL
from mirante.orchestration.resources import Warehouse

from .atencao_primaria import _metadata, municipality_checks, reconciliation_checks
from .common import suite_result

JOB_NAME = "esus_pull_lotes"
#: op tag naming the batch a step pulls
BATCH_TAG = "mirante/lote"


def batch_of(k: int, n: int) -> list:
    """The enabled municipalities of batch k of n: every n-th of the registry sorted by id."""
    enabled = sorted(registry.load(enabled_only=True), key=lambda m: m.id_municipio)
    return enabled[k::n]


def _check_event(result) -> AssetCheckEvaluation:
    return AssetCheckEvaluation(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
    )


def batch_op(k: int, n: int):
    """The step that pulls batch k of n (see the module docstring)."""

    @op(
        name=f"lote_{k}",
        out=Out(Nothing),
        pool=ESUS_POOL,
        tags={BATCH_TAG: str(k)},
        description=f"Pull the enabled municipalities {k}, {k}+{n}, ... of the registry (sorted by id).",
    )
    def _pull_batch(context: OpExecutionContext, warehouse: Warehouse):
        from mirante.loaders.esus.pull import pull_many

        municipios = batch_of(k, n)
        if not municipios:
            context.log.info(f"batch {k} of {n} is empty")
            return
        srv = warehouse.server()
        # a run-log id per batch: each batch holds its own liveness lock (loaders/esus/runlog.py)
        run_id = f"{context.run_id}-lote{k}"
        context.log.info(f"batch {k}: {', '.join(m.id_municipio for m in municipios)} (run log {run_id})")
        runs = lineage.esus_pull_start(context, municipios, TABLES)
        try:
            results = pull_many(municipios, srv, workers=read_settings().concurrency, run_id=run_id)
        except Exception as exc:
            lineage.esus_pull_end(runs, exc, srv, DATASET, TABLES)
            raise
        lineage.esus_pull_end(runs, results, srv, DATASET, TABLES)
        for ident, result in results.items():
            if result.status == "sucesso":
                for key, meta in _metadata(result).items():
                    context.log_event(AssetMaterialization(asset_key=key, partition=ident, metadata=meta))
        for check in reconciliation_checks(results):
            context.log_event(_check_event(check))
        for check in municipality_checks(srv, [m.id_municipio for m in municipios]):
            context.log_event(_check_event(check))
        failed = sorted(i for i, r in results.items() if r.status != "sucesso")
        if failed:
            raise Failure(
                description=f"{len(failed)} of {len(results)} municipalities of batch {k} failed (the "
                "others loaded): "
                + "; ".join(
                    f"{i}: {results[i].error_kind}/{results[i].error_code}: {results[i].error}"
                    for i in failed
                )
                + ". Rerun their partitions of esus_pull once the sources are back.",
                metadata={
                    "falharam": ", ".join(failed),
                    "codigos": {i: f"{results[i].error_kind}/{results[i].error_code}" for i in failed},
                },
            )

    return _pull_batch


@op(
    name="suites_raw_esus",
    ins={"lotes": In(Nothing)},
    out={},
    description="The Great Expectations suites of raw_esus once every batch loaded, as the asset job "
    "esus_pull runs them after its pull (asset checks ge_<table>); fails if a blocking one fails.",
)
def raw_suites(context: OpExecutionContext, warehouse: Warehouse):
    from mirante.expectations import list_suites, load_suite

    failed = []
    for suite in list_suites():
        schema, table = suite.split(".", 1)
        if schema != DATASET:
            continue
        result = suite_result(suite, warehouse.url("transformer"))
        context.log_event(
            AssetCheckEvaluation(
                asset_key=AssetKey([schema, table]),
                check_name=f"ge_{table}",
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
            )
        )
        if not result.passed and load_suite(suite).get("blocking", True):
            failed.append(suite)
    if failed:
        raise Failure(description=f"blocking Great Expectations suite(s) failed: {', '.join(failed)}")


def build_job(n: int):
    batches = [batch_op(k, n) for k in range(n)]

    @job(
        name=JOB_NAME,
        tags={MAX_RUNTIME_SECONDS_TAG: str(read_settings().max_runtime_s), CONCURRENCY_TAG: "pull"},
        description=f"The e-SUS pull of every enabled municipality in {n} batches, one step each "
        "(spread over the Celery workers with MIRANTE_EXECUTOR=celery).",
    )
    def _job():
        raw_suites(lotes=[pull_batch() for pull_batch in batches])

    return _job


esus_pull_lotes = build_job(config.esus_batches())


@schedule(
    # the daily pull of a Celery deployment, under the name of the in-process one (which it
    # replaces: defs/atencao_primaria.py), same time
    name="esus_daily",
    job=esus_pull_lotes,
    cron_schedule="0 5 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="America/Sao_Paulo",
    description="Every enabled municipality in MIRANTE_ESUS_LOTES batches, one step each (Celery workers).",
)
def esus_daily_lotes(context: ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(run_key=f"esus:{day}", tags={CONCURRENCY_TAG: "pull"})


defs = Definitions(
    jobs=[esus_pull_lotes],
    schedules=[esus_daily_lotes] if config.executor() == "celery" else [],
)
