"""`mirante metrics`: a Prometheus exporter over what Dagster and the warehouse already record.

Nothing is counted in memory: every scrape READS Dagster's run and event storage (the instance under
MIRANTE_HOME/dagster, the one `mirante run` and `mirante ui` write; orchestration/instance.py) and
the raw e-SUS tables, so the exporter can restart, or several can run, without losing a count.

Series (names are fixed: monitoring/alerts.yml and dashboards use them):

    mirante_runs_total{job,status}                    runs in storage by job and status; every job of
                                                      the definitions has SUCCESS, FAILURE and
                                                      CANCELED from 0, so increase() sees the first one
    mirante_run_duration_seconds{job}                 histogram of finished runs (end - start)
    mirante_rows_loaded{schema,table}                 `rows_loaded` of the latest materialization of
                                                      each raw dlt asset (dagster-dlt's metadata)
    mirante_load_duration_seconds{pipeline,op}        step duration of the dlt op (raw_snis, ...) in
                                                      the run of its latest materialization
    mirante_dbt_model_duration_seconds{model}         dbt's `Execution Duration` of the model's latest
                                                      materialization (dagster-dbt metadata)
    mirante_asset_check_passed{asset,check,severity}  1/0: the check's latest completed evaluation
    mirante_seconds_since_materialization{asset}      every materializable raw source and mart asset;
                                                      +Inf when never materialized
    mirante_esus_days_late{id_municipio}              days since the latest day with PEC records of
                                                      each enabled municipality (raw_esus; +Inf: none)
    mirante_sla_ok{process}                           1/0: the process is within its SLA now
                                                      (orchestration/slas.yml, orchestration/sla.py)
    mirante_sla_target_seconds{process}               its limit (deadlines: seconds after local midnight)
    mirante_sla_observed_seconds{process}             the figure judged (absent: nothing to judge yet)
    mirante_esus_records_latest_day{id_municipio}     care records (tb_fat_atendimento_individual) of
                                                      the latest day with records
    mirante_esus_records_mean_7d{id_municipio}        mean of the 7 days with records before it (absent
                                                      without any): the dashboards' volume ratio
    mirante_razao_wal_retido_bytes{slot}              WAL the ledger's replication slot holds back for
                                                      the capture (current LSN - confirmed_flush_lsn)
    mirante_razao_slot_invalidado{slot}               1 when the server invalidated that slot
    mirante_exporter_scrape_errors_total              parts of a scrape that failed (the rest is served)

The asset, check and job lists come from the Definitions (`catalogue()`), the values from storage.
The warehouse is never started here (`db.running_server()`): a stopped database is a scrape error.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

from mirante import config

log = logging.getLogger("mirante.metrics")

DEFAULT_PORT = 9108
#: the run statuses every known job reports, 0 until one happens (a series that appears at 1 has no
#: increase() for Prometheus)
TERMINAL_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")
#: run duration buckets, seconds: a trivial run to the e-SUS pull's 3 h max runtime
RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800)
#: asset key prefixes watched for staleness: raw sources and marts
RAW_PREFIX = "raw_"
MARTS = "marts"
DBT_LAYERS = ("staging", "intermediate", "marts")


@dataclass(frozen=True)
class Catalogue:
    """What the exporter reports on (from the Definitions: storage alone does not know the assets
    never materialized nor the checks never run)."""

    jobs: tuple[str, ...] = ()
    #: materializable raw and mart assets, as key paths
    watched: tuple[tuple[str, ...], ...] = ()
    #: dlt op name -> (pipeline name, its asset key paths)
    dlt_ops: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = field(default_factory=dict)
    #: dbt model asset key paths
    dbt_models: tuple[tuple[str, ...], ...] = ()
    #: (asset key path, check name)
    checks: tuple[tuple[tuple[str, ...], str], ...] = ()


def catalogue(defs=None) -> Catalogue:
    """The catalogue of Mirante's Definitions (orchestration/definitions.py) or of `defs`."""
    if defs is None:
        from mirante.orchestration.definitions import defs
    from mirante.loaders import dlt_loaders

    graph = defs.resolve_asset_graph()
    keys = graph.materializable_asset_keys
    ops = {loader.dataset: loader.name for loader in dlt_loaders().values()}
    dlt_ops: dict[str, tuple[str, tuple]] = {}
    dbt = []
    for assets_def in graph.assets_defs:
        if not assets_def.is_executable:
            continue
        name = assets_def.node_def.name
        paths = tuple(sorted(tuple(k.path) for k in assets_def.keys if k in keys))
        if name in ops:
            dlt_ops[name] = (ops[name], paths)
        if "dbt" in {kind for spec in assets_def.specs for kind in spec.kinds}:
            dbt += [p for p in paths if p[0] in DBT_LAYERS]
    return Catalogue(
        jobs=tuple(sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))),
        watched=tuple(
            sorted(tuple(k.path) for k in keys if k.path[0].startswith(RAW_PREFIX) or k.path[0] == MARTS)
        ),
        dlt_ops=dlt_ops,
        dbt_models=tuple(sorted(dbt)),
        checks=tuple(sorted((tuple(c.asset_key.path), c.name) for c in graph.asset_check_keys)),
    )


def _histogram(values: list[float], buckets: Iterable[float]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative buckets (le, count) ending with +Inf, and the sum."""
    out = [(str(float(b)), sum(1 for v in values if v <= b)) for b in buckets]
    return [*out, ("+Inf", len(values))], sum(values)


class MiranteCollector(Collector):
    """Reads the instance and the warehouse at each scrape (see the module docstring).

    `instance`: a callable returning a DagsterInstance (entered and closed per scrape);
    `server`: a callable returning the warehouse's config.Server, or None to skip e-SUS lateness;
    `esus_ids`: the municipalities watched (default: the registry's enabled ones)."""

    def __init__(
        self,
        instance: Callable,
        cat: Catalogue,
        server: Callable | None = None,
        esus_ids: Callable[[], list[str]] | None = None,
    ):
        self.instance = instance
        self.cat = cat
        self.server = server
        self.esus_ids = esus_ids or _enabled_municipalities
        self.errors = 0

    def describe(self):
        return []  # collected at scrape time only (no read at registration)

    def collect(self):
        families = []
        try:
            with self.instance() as instance:
                for part in (self._runs, self._loads, self._dbt, self._checks, self._freshness, self._slas):
                    families += self._guard(part, instance)
        except Exception:
            log.exception("metrics: cannot open the Dagster instance")
            self.errors += 1
        if self.server is not None:
            families += self._guard(self._esus)
            families += self._guard(self._razao)
        errors = CounterMetricFamily(
            "mirante_exporter_scrape_errors", "Parts of a scrape that failed (the others were served)."
        )
        errors.add_metric([], self.errors)
        yield from families
        yield errors

    def _guard(self, part, *args) -> list:
        try:
            return list(part(*args))
        except Exception as exc:  # one line per failed part; MIRANTE_DEBUG=1 adds the traceback
            log.warning("metrics: %s failed: %s", part.__name__.lstrip("_"), exc, exc_info=config.debug())
            self.errors += 1
            return []

    # ------------------------------------------------------------------------------------ runs

    def run_counts(self, records) -> Counter:
        """(job, status) -> runs among `records`, with every known job's TERMINAL_STATUSES from 0."""
        counts = Counter((r.dagster_run.job_name, r.dagster_run.status.value) for r in records)
        for job in self.cat.jobs:
            for status in TERMINAL_STATUSES:
                counts.setdefault((job, status), 0)
        return counts

    def _runs(self, instance):
        records = instance.get_run_records()
        counts = self.run_counts(records)
        runs = CounterMetricFamily(
            "mirante_runs", "Runs in Dagster's storage by job and status.", labels=["job", "status"]
        )
        for (job, status), n in sorted(counts.items()):
            runs.add_metric([job, status], n)
        yield runs
        durations: dict[str, list[float]] = {job: [] for job in self.cat.jobs}
        for r in records:
            if r.start_time is not None and r.end_time is not None:
                durations.setdefault(r.dagster_run.job_name, []).append(r.end_time - r.start_time)
        hist = HistogramMetricFamily(
            "mirante_run_duration_seconds", "Duration of finished runs (start to end).", labels=["job"]
        )
        for job, values in sorted(durations.items()):
            buckets, total = _histogram(values, RUN_BUCKETS)
            hist.add_metric([job], buckets, total)
        yield hist

    # ------------------------------------------------------------------------------ dlt loads

    def _loads(self, instance):
        from dagster import AssetKey

        rows = GaugeMetricFamily(
            "mirante_rows_loaded",
            "rows_loaded of the latest materialization of each raw dlt asset.",
            labels=["schema", "table"],
        )
        duration = GaugeMetricFamily(
            "mirante_load_duration_seconds",
            "Step duration of each dlt op in the run of its latest materialization.",
            labels=["pipeline", "op"],
        )
        for op, (pipeline, paths) in sorted(self.cat.dlt_ops.items()):
            latest = instance.get_latest_materialization_events([AssetKey(p) for p in paths])
            events = [e for e in latest.values() if e is not None]
            for key, event in latest.items():
                value = event and event.asset_materialization.metadata.get("rows_loaded")
                if value is not None:
                    rows.add_metric([key.path[0], "/".join(key.path[1:])], value.value)
            if not events:
                continue
            run_id = max(events, key=lambda e: e.timestamp).run_id
            stats = instance.get_run_step_stats(run_id, step_keys=[op])
            if stats and stats[0].start_time and stats[0].end_time:
                duration.add_metric([pipeline, op], stats[0].end_time - stats[0].start_time)
        yield rows
        yield duration

    # ----------------------------------------------------------------------------------- dbt

    def _dbt(self, instance):
        from dagster import AssetKey

        family = GaugeMetricFamily(
            "mirante_dbt_model_duration_seconds",
            "dbt's Execution Duration of each model's latest materialization.",
            labels=["model"],
        )
        latest = instance.get_latest_materialization_events([AssetKey(p) for p in self.cat.dbt_models])
        for key, event in sorted(latest.items(), key=lambda kv: kv[0].path):
            value = event and event.asset_materialization.metadata.get("Execution Duration")
            if value is not None:
                family.add_metric([key.path[-1]], float(value.value))
        yield family

    # -------------------------------------------------------------------------------- checks

    def _checks(self, instance):
        from dagster import AssetCheckKey, AssetKey
        from dagster._core.events import DagsterEventType

        family = GaugeMetricFamily(
            "mirante_asset_check_passed",
            "1 if the check's latest completed evaluation passed, else 0.",
            labels=["asset", "check", "severity"],
        )
        keys = [AssetCheckKey(AssetKey(path), name) for path, name in self.cat.checks]
        summaries = instance.event_log_storage.get_asset_check_summary_records(keys)
        for key in sorted(keys, key=lambda k: (k.asset_key.path, k.name)):
            record = summaries[key].last_completed_check_execution_record if key in summaries else None
            event = record.event if record else None
            if event is None or event.dagster_event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
                continue
            evaluation = event.dagster_event.event_specific_data
            family.add_metric(
                [key.asset_key.to_user_string(), key.name, evaluation.severity.value],
                1 if evaluation.passed else 0,
            )
        yield family

    # ----------------------------------------------------------------------------- freshness

    def _freshness(self, instance):
        family = GaugeMetricFamily(
            "mirante_seconds_since_materialization",
            "Seconds since the latest materialization of each raw source and mart (+Inf: never).",
            labels=["asset"],
        )
        now = time.time()
        for asset, timestamp in self.materialized_at(instance).items():
            family.add_metric([asset], math.inf if timestamp is None else now - timestamp)
        yield family

    def materialized_at(self, instance) -> dict[str, float | None]:
        """Asset (`raw_ibge/municipios`) -> timestamp of its latest materialization (None: never),
        for every watched raw source and mart."""
        from dagster import AssetKey

        latest = instance.get_latest_materialization_events([AssetKey(p) for p in self.cat.watched])
        return {
            key.to_user_string(): event.timestamp if event else None
            for key, event in sorted(latest.items(), key=lambda kv: kv[0].path)
        }

    # ----------------------------------------------------------------------------------- SLAs

    def sla_states(self, instance) -> list:
        """(SLA, its state now) of every process of orchestration/slas.yml (the Operação page reads
        it too); with the warehouse down, the SLAs that need it are not judged."""
        from mirante.orchestration import sla

        try:
            server = self.server() if self.server is not None else None
        except Exception:
            server = None
        slas = sla.load()
        return list(zip(slas, sla.evaluate(instance, slas, server=server), strict=True))

    def _slas(self, instance):
        ok = GaugeMetricFamily(
            "mirante_sla_ok", "1 if the process is within its SLA now.", labels=["process"]
        )
        target = GaugeMetricFamily(
            "mirante_sla_target_seconds",
            "The process's SLA limit (deadlines: seconds after local midnight).",
            labels=["process"],
        )
        observed = GaugeMetricFamily(
            "mirante_sla_observed_seconds", "The figure the SLA judges, in seconds.", labels=["process"]
        )
        for _, estado in self.sla_states(instance):
            ok.add_metric([estado.processo], 1 if estado.ok else 0)
            target.add_metric([estado.processo], estado.limite_s)
            if estado.observado_s is not None:
                observed.add_metric([estado.processo], estado.observado_s)
        yield from (ok, target, observed)

    # ---------------------------------------------------------------------------------- e-SUS

    def esus_stats(self) -> dict[str, dict]:
        """loaders/esus/monitoring.py's lateness and volume of each watched municipality (read once
        per scrape; the Operação page reads it too)."""
        from mirante.loaders.esus.monitoring import lateness_and_volume

        ids = self.esus_ids()
        return dict(sorted(lateness_and_volume(self.server(), ids).items())) if ids else {}

    def _esus(self):
        family = GaugeMetricFamily(
            "mirante_esus_days_late",
            "Days since the latest day with PEC records of each enabled municipality (+Inf: none yet).",
            labels=["id_municipio"],
        )
        stats = self.esus_stats()
        for ident, row in stats.items():
            late = row["dias_de_atraso"]
            family.add_metric([ident], math.inf if late is None else late)
        yield family
        yield from self._esus_volume(stats)

    def _esus_volume(self, stats: dict[str, dict]):
        latest = GaugeMetricFamily(
            "mirante_esus_records_latest_day",
            "Care records of the latest day with records of each enabled municipality.",
            labels=["id_municipio"],
        )
        mean = GaugeMetricFamily(
            "mirante_esus_records_mean_7d",
            "Mean care records of the 7 days with records before the latest one.",
            labels=["id_municipio"],
        )
        for ident, row in stats.items():
            latest.add_metric([ident], row["registros_ultimo_dia"])
            if row["media_7_dias"] is not None:
                mean.add_metric([ident], row["media_7_dias"])
        yield latest
        yield mean

    # ------------------------------------------------------------------------ ledger capture

    def _razao(self):
        """The ledger's replication slot, read on the source as the capture role: the WAL it holds
        back for the capture (pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) and
        whether the server invalidated it. Nothing when the capture is not configured or has not
        created its slot yet."""
        from mirante.loaders import razao

        retained = GaugeMetricFamily(
            "mirante_razao_wal_retido_bytes",
            "WAL the ledger's replication slot holds back for the capture (bytes not yet confirmed).",
            labels=["slot"],
        )
        lost = GaugeMetricFamily(
            "mirante_razao_slot_invalidado",
            "1 when the server invalidated the ledger's slot (past max_slot_wal_keep_size): the next "
            "capture takes a new snapshot (docs/cdc.md).",
            labels=["slot"],
        )
        if config.razao_password("cdc"):
            settings = razao.read_settings(self.server())
            import psycopg

            with psycopg.connect(settings.url(), connect_timeout=5, autocommit=True) as conn:
                info = razao.slot_info(conn, settings.slot)
            if info is not None:
                invalid = info["wal_status"] == "lost" or bool(info["invalidation_reason"])
                lost.add_metric([settings.slot], 1 if invalid else 0)
                if info["retained"] is not None:
                    retained.add_metric([settings.slot], info["retained"])
        yield retained
        yield lost


def _enabled_municipalities() -> list[str]:
    from mirante.loaders.esus import registry

    return [m.id_municipio for m in registry.load(enabled_only=True)]


def dagster_home() -> Path:
    """The instance to read: DAGSTER_HOME (the service's, under `mirante serve`), else where
    `mirante run` and `mirante ui` keep Dagster's storage (orchestration/instance.py)."""
    return config.dagster_home()


def registry(collector: MiranteCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def collector_for(home: Path | None = None, cat: Catalogue | None = None, with_warehouse: bool = True):
    """The collector over the instance at `home` (default: MIRANTE_HOME/dagster, read only: no
    dagster.yaml is written) and the warehouse Mirante uses, if it runs."""
    from dagster import DagsterInstance

    from mirante import db

    home = Path(home or dagster_home())

    def instance():
        return DagsterInstance.from_config(str(home))

    return MiranteCollector(
        instance,
        cat if cat is not None else catalogue(),
        server=db.running_server if with_warehouse else None,
    )


def serve(port: int = DEFAULT_PORT, host: str = "127.0.0.1", collector: MiranteCollector | None = None):
    """Start serving /metrics in a background thread; returns (server, thread): `server.shutdown()`
    stops it."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=registry(collector or collector_for()))
