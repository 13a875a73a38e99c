"""The one Definitions of Mirante: every domain module merged, resources bound in one place.

`dagster dev -m mirante.orchestration.definitions` shows it; `mirante run` executes it. The daily
rebuild (`mirante_all`) follows the e-SUS pull (sensor `mirante_all_after_esus_pull`), not a
clock: a clock started it while a long pull was still loading (docs/concurrency.md).
"""

import json
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from mirante.orchestration import alerts, lineage
from mirante.orchestration import defs as domains
from mirante.orchestration.defs import atencao_primaria, esus_lotes
from mirante.orchestration.defs.common import rebuild_exclusions
from mirante.orchestration.executor import job_executor
from mirante.orchestration.resources import resources


def domain_definitions() -> list[Definitions]:
    """The `defs` of every module under orchestration/defs/ that has one (a new domain module is
    merged by rule)."""
    import importlib
    import pkgutil

    modules = [
        importlib.import_module(f"{domains.__name__}.{m.name}")
        for m in pkgutil.iter_modules(domains.__path__)
    ]
    return [m.defs for m in modules if isinstance(getattr(m, "defs", None), Definitions)]


#: tag of the runs `mirante run` (and the test fixtures) execute in process: it runs `mirante_all`
#: itself right after its pull, so the sensor must not ask for another one
ORIGIN_TAG = "mirante/origem"
INLINE_ORIGIN = "mirante run"
#: tag of a rebuild: the pull run it follows
AFTER_TAG = "mirante/apos_execucao"

#: the main job: every asset of every domain but the per-municipality PEC pulls, which run as one
#: partition each (job `esus_pull`) before it, and the monthly reports (one partition per month,
#: job `relatorios_financeiros`: `mirante run` asks for the latest month after it)
all_assets = define_asset_job(
    "mirante_all",
    selection=AssetSelection.all()
    - AssetSelection.assets(atencao_primaria.raw_esus_pec)
    - rebuild_exclusions(),
    description="Every asset of every domain, sources to marts (PEC pulls run per municipality; "
    "the monthly reports per month).",
)


#: run storages keep some update times to the second: look this far back and skip the runs seen
_MARGIN = timedelta(seconds=5)


#: the jobs that pull e-SUS: in one step (in process) or in batches (Celery workers)
PULL_JOBS = (atencao_primaria.esus_pull_job.name, esus_lotes.JOB_NAME)


def _finished_pulls(instance, since: datetime):
    records = [
        record
        for job_name in PULL_JOBS
        for record in instance.get_run_records(
            filters=RunsFilter(
                job_name=job_name,
                updated_after=since - _MARGIN,
                statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
            ),
            order_by="update_timestamp",
            ascending=True,
        )
    ]
    return sorted(records, key=lambda r: r.update_timestamp)


@sensor(
    job=all_assets,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Rebuilds everything (mirante_all) once an e-SUS pull has finished: on success, or on a "
    "failure that still loaded some municipalities.",
)
def mirante_all_after_esus_pull(context: SensorEvaluationContext):
    """Cursor: the update time of the latest pull run seen and the runs seen around it. An empty
    cursor starts from now, so turning the sensor on never replays past pulls."""
    if not context.cursor:
        now = datetime.now(UTC)
        seen = [r.dagster_run.run_id for r in _finished_pulls(context.instance, now)]
        context.update_cursor(json.dumps({"desde": now.isoformat(), "vistos": seen}))
        return SkipReason("started: waiting for the next e-SUS pull to finish")
    state = json.loads(context.cursor)
    since, seen = datetime.fromisoformat(state["desde"]), set(state["vistos"])
    records = [r for r in _finished_pulls(context.instance, since) if r.dagster_run.run_id not in seen]
    if records:
        since = max(since, *(r.update_timestamp for r in records))
        seen = {r.dagster_run.run_id for r in _finished_pulls(context.instance, since)}
        context.update_cursor(json.dumps({"desde": since.isoformat(), "vistos": sorted(seen)}))
    finished = [r.dagster_run for r in records if r.dagster_run.tags.get(ORIGIN_TAG) != INLINE_ORIGIN]
    # a failed pull names the municipalities that failed; the ones that loaded still get their marts
    ready = [
        run
        for run in finished
        if run.status == DagsterRunStatus.SUCCESS
        or context.instance.get_run_stats(run.run_id).materializations > 0
    ]
    if not ready:
        return SkipReason("no e-SUS pull finished since the last rebuild request")
    last = ready[-1]
    # one rebuild covers every pull that finished since the last tick
    return RunRequest(run_key=f"apos:{last.run_id}", tags={AFTER_TAG: last.run_id})


def with_freshness_policies(merged: Definitions) -> Definitions:
    """The Dagster freshness policies of orchestration/slas.yml (`frescor`), by asset key prefix
    (the first matching entry wins), in one pass over the specs. Not on dlt child tables: they are
    written by their parent's op and never materialized as assets of their own."""
    import warnings

    from dagster import apply_freshness_policy

    from mirante.loaders import dlt_loaders
    from mirante.orchestration import sla

    policies = sla.freshness_policies()
    children = {(ld.dataset, child) for ld in dlt_loaders().values() for child in ld.child_tables}

    def apply(spec):
        if tuple(spec.key.path) in children:
            return spec
        for prefix, policy in policies:
            if spec.key.path[0] == prefix:
                return apply_freshness_policy(spec, policy)
        return spec

    with warnings.catch_warnings():  # map_asset_specs is "preview" in the pinned Dagster
        warnings.simplefilter("ignore")
        return merged.map_asset_specs(func=apply)


defs = Definitions.merge(
    *domain_definitions(),
    # in process by default (one code import per run instead of one per step: 6-8 s each here), or
    # on Celery workers with MIRANTE_EXECUTOR=celery (orchestration/executor.py)
    Definitions(
        jobs=[all_assets],
        sensors=[mirante_all_after_esus_pull, *alerts.SENSORS, *lineage.run_sensors()],
        resources=resources(),
        executor=job_executor(),
    ),
)
defs = with_freshness_policies(defs)
