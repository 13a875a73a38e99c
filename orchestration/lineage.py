"""OpenLineage events for every dlt load, every e-SUS pull, every dbt model and every Dagster run.

Why: the Dagster UI shows the asset graph, but an operator's catalogue (Marquez, DataHub, ...)
wants the standard events, and so does anyone asking "which file fed this mart row?" after the
fact. Events go to MIRANTE_OPENLINEAGE_URL (HTTP, e.g. Marquez's /api/v1/lineage) when set, else
to a JSON-lines file (mirante.config.openlineage_file(), MIRANTE_HOME/openlineage/events.jsonl).
Emission never fails a load: an event the receiver does not take is logged and appended to the file.

One naming of datasets (`table_dataset`, OpenLineage's own `Postgres` naming): a warehouse table is
namespace `postgres://<host>:<port>` of the warehouse (the `config.Server` every component connects
to, so dlt's writes, dbt's sources and dbt's models share one host spelling) and name
`<database>.<schema>.<table>`. So the output `raw_snis.agua_esgoto_agregado` of the dlt load is the
very input of `staging.stg_snis__...`: the chain source -> raw -> staging -> mart joins on the names
alone. Sources outside the warehouse: a file is namespace `file`, name its absolute path; an HTTP
API is namespace `<scheme>://<host:port>`, name its base path; a PEC table is named like a warehouse
table, on the PEC server's host and port.

Jobs (namespace `mirante`), one OpenLineage run per execution, START then COMPLETE or FAIL:
- a dlt load: job = the op (`raw_snis`, `raw_ibge`, `raw_crm`, `raw_erp`); inputs = what the
  loader declares it reads (`DltLoader.read_origins`); outputs = every table the load wrote, child
  tables included, with dlt's normalized row counts (outputStatistics);
- an e-SUS pull: job `raw_esus_pec.<id_municipio>` per municipality (each succeeds or fails on its
  own); inputs = its PEC tables, outputs = the raw_esus tables with the rows written;
- a dbt model: job `dbt.<schema>.<model>`; built after each `dbt build` from the invocation's
  manifest.json and run_results.json (no network in dbt, no second dbt run); inputs = the sources and
  models it reads, output = its relation with its documented columns.
  (openlineage-dbt's processor gives the same datasets and edges over the same artifacts, which
  tests/test_lineage.py checks, but it re-renders profiles.yml and parses SQL at run time: reading
  the two artifacts is short and uses the one naming function.)
- a Dagster run: job = the Dagster job's name, runId = the Dagster run id (a UUID), so the events
  above carry it in their `parent` facet. Who emits them: the `mirante run` path (and the tests'
  graph build) executes its runs in process, where no daemon runs sensors, so it emits around each
  `execute_in_process` (`inline_run`); every other run (launched by the daemon under `make serve`,
  the UI, a schedule, a sensor) is seen by the run-status sensors below (RUNNING by default), which
  skip the in-process ones by their origin tag so no run is reported twice. A hook inside the job
  would miss runs that fail before any step starts; the sensors and the explicit emission do not.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    SkipReason,
    run_status_sensor,
)
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.naming.dataset import LocalFileSystem, Postgres
from openlineage.client.serde import Serde

from mirante import config

log = logging.getLogger("mirante.lineage")

#: namespace of every Mirante job
NAMESPACE = "mirante"
#: the `producer` of every event (a URI naming this module)
PRODUCER = "urn:mirante:lineage"
#: HTTP receiver: seconds per POST, and how long a receiver that failed is skipped (a loop of 650
#: municipalities must not wait for a dead receiver 650 times)
HTTP_TIMEOUT_S = 5.0
HTTP_BACKOFF_S = 60.0

_http_down_until = 0.0


# --------------------------------------------------------------------------------------------
# naming


def table_dataset(
    srv: config.Server, schema: str, table: str, database: str | None = None
) -> tuple[str, str]:
    """(namespace, name) of a table on `srv`: `postgres://host:port`, `database.schema.table`."""
    naming = Postgres(
        host=srv.host.lower(),
        port=str(srv.port),
        database=database or config.database_name(),
        schema=schema,
        table=table,
    )
    return naming.get_namespace(), naming.get_name()


def uri_dataset(uri: str) -> tuple[str, str]:
    """(namespace, name) of what a loader reads, from its URI: file:///path -> (`file`, path);
    http(s)://host:port/path -> (`http(s)://host:port`, path); postgresql://host:port/db/schema.table
    -> the warehouse rule on that server."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        naming = LocalFileSystem(path=parts.path)
        return naming.get_namespace(), naming.get_name()
    if parts.scheme in ("postgres", "postgresql"):
        database, _, relation = parts.path.lstrip("/").partition("/")
        schema, _, table = relation.rpartition(".")
        naming = Postgres(
            host=(parts.hostname or "").lower(),
            port=str(parts.port or 5432),
            database=database,
            schema=schema or "public",
            table=table,
        )
        return naming.get_namespace(), naming.get_name()
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}", parts.path.rstrip("/") or "/"


# --------------------------------------------------------------------------------------------
# transport


def emit(event: RunEvent) -> None:
    """Send one event; never raises (lineage must not fail a load)."""
    global _http_down_until
    try:
        url = config.openlineage_url()
    except ValueError as exc:
        log.warning(f"{exc}: OpenLineage events go to the file")
        url = None
    if url and datetime.now(UTC).timestamp() >= _http_down_until:
        try:
            _transport(url).emit(event)
            return
        except Exception as exc:
            _http_down_until = datetime.now(UTC).timestamp() + HTTP_BACKOFF_S
            log.warning(
                f"OpenLineage receiver did not take the event ({type(exc).__name__}); kept in "
                f"{config.openlineage_file()}, receiver skipped for {HTTP_BACKOFF_S:g} s"
            )
    _append(event)


@functools.lru_cache(maxsize=4)
def _transport(url: str):
    """openlineage-python's HTTP transport: a URL without a path posts to <url>/api/v1/lineage."""
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    parts = urlsplit(url)
    return HttpTransport(
        HttpConfig(
            url=f"{parts.scheme}://{parts.netloc}",
            endpoint=parts.path.lstrip("/") or "api/v1/lineage",
            timeout=HTTP_TIMEOUT_S,
            retry={"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.2, "allowed_methods": ["POST"]},
        )
    )


def _append(event: RunEvent) -> None:
    path = config.openlineage_file()
    try:
        line = Serde.to_json(event) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        # one write of one line with O_APPEND: concurrent writers (daemon, runs) never interleave
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except Exception as exc:  # lineage must not fail a load
        log.warning(f"OpenLineage event not written to {path} ({type(exc).__name__}: {exc})")


# --------------------------------------------------------------------------------------------
# events


def now() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    from openlineage.client.uuid import generate_new_uuid

    return str(generate_new_uuid())


def _iso(when: datetime | float | str | None) -> str:
    if when is None:
        return now().isoformat()
    if isinstance(when, int | float):
        return datetime.fromtimestamp(when, UTC).isoformat()
    if isinstance(when, str):
        return datetime.fromisoformat(when.replace("Z", "+00:00")).isoformat()
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def inputs(datasets: Iterable[tuple[str, str]]) -> list[InputDataset]:
    return [InputDataset(namespace=ns, name=name) for ns, name in dict.fromkeys(datasets)]


def output(
    dataset: tuple[str, str], rows: int | None = None, columns: Mapping[str, str | None] | None = None
) -> OutputDataset:
    """An output dataset with its row count (rows written by this run) and its columns when known."""
    facets = {}
    if columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=c, type=t or None) for c, t in columns.items()
            ]
        )
    out_facets = {}
    if rows is not None and rows >= 0:
        out_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=int(rows)
        )
    return OutputDataset(namespace=dataset[0], name=dataset[1], facets=facets, outputFacets=out_facets)


class LineageRun:
    """One OpenLineage run of a Mirante job: `start()`, then `complete(outputs)` or `fail(error)`."""

    def __init__(
        self,
        job: str,
        integration: str,
        job_type: str,
        *,
        run_id: str | None = None,
        inputs: list[InputDataset] | None = None,
        parent: tuple[str, str] | None = None,
    ):
        self.job, self.run_id = job, run_id or new_run_id()
        self.integration, self.job_type = integration, job_type
        self.inputs = inputs or []
        self.parent = parent

    def _event(self, state: RunState, when, outputs=(), error: str | None = None) -> RunEvent:
        run_facets: dict = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=_engine_version(self.integration), name=self.integration.lower()
            )
        }
        if self.parent:
            job_name, run_id = self.parent
            run_facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=run_id), job=parent_run.Job(namespace=NAMESPACE, name=job_name)
            )
        if error is not None:
            from mirante.errors import mask

            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=mask(error)[:4000], programmingLanguage="python"
            )
        job_facets = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration=self.integration, jobType=self.job_type
            )
        }
        return RunEvent(
            eventType=state,
            eventTime=_iso(when),
            run=Run(runId=self.run_id, facets=run_facets),
            job=Job(namespace=NAMESPACE, name=self.job, facets=job_facets),
            inputs=self.inputs,
            outputs=list(outputs),
            producer=PRODUCER,
        )

    def _send(self, state: RunState, when, outputs=(), error: str | None = None) -> None:
        try:
            event = self._event(state, when, outputs, error)
        except Exception as exc:  # lineage must not fail a load
            log.warning(f"lineage: {state.value} of {self.job} not built ({type(exc).__name__}: {exc})")
            return
        emit(event)

    def start(self, when=None) -> None:
        self._send(RunState.START, when)

    def complete(self, outputs: Iterable[OutputDataset] = (), when=None) -> None:
        self._send(RunState.COMPLETE, when, outputs)

    def fail(self, error: BaseException | str, outputs: Iterable[OutputDataset] = (), when=None) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._send(RunState.FAIL, when, outputs, error=text)

    def abort(self, when=None) -> None:
        self._send(RunState.ABORT, when)


def _engine_version(integration: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    package = {"DLT": "dlt", "DBT": "dbt-core", "DAGSTER": "dagster"}.get(integration, "mirante")
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------------------------
# dlt loads (orchestration/defs/factory.py)


def dagster_parent(context) -> tuple[str, str]:
    """(job name, run id) of the Dagster run a step belongs to: the `parent` of its events."""
    return context.run.job_name, context.run_id


def loader_inputs(loader, settings, source_kwargs: dict) -> list[InputDataset]:
    """What one load reads (`DltLoader.read_origins`), named by `uri_dataset`; [] if unknown."""
    try:
        return inputs(uri_dataset(uri) for uri in loader.read_origins(settings, source_kwargs))
    except Exception as exc:
        log.warning(f"lineage: inputs of {loader.name} unknown ({type(exc).__name__}: {exc})")
        return []


def dlt_outputs(pipeline, srv: config.Server) -> list[OutputDataset]:
    """Every table the pipeline's last run wrote (child tables included, dlt's own left out), with
    the rows it normalized and the columns of its schema."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    counts = dict(info.row_counts) if info else {}
    tables = pipeline.default_schema.tables if pipeline.default_schema_name else {}
    out = []
    for table, rows in sorted(counts.items()):
        if table.startswith("_dlt"):
            continue
        columns = {c: spec.get("data_type") for c, spec in tables.get(table, {}).get("columns", {}).items()}
        out.append(output(table_dataset(srv, pipeline.dataset_name, table), rows, columns))
    return out


class Step:
    """The OpenLineage run of a Dagster step: `with Step(run) as step:` emits START, then FAIL with
    the error if the body raises, else COMPLETE with `step.outputs` (set by the body, or by
    `step.finish` called last in the body)."""

    def __init__(self, run: LineageRun):
        self.run = run
        self.outputs: list[OutputDataset] = []
        self.finish = None

    def __enter__(self):
        self.run.start()
        return self

    def __exit__(self, kind, error, tb):
        if error is None:
            try:
                outputs = self.finish() if self.finish else self.outputs
            except Exception as exc:
                log.warning(f"lineage: outputs of {self.run.job} unknown ({type(exc).__name__}: {exc})")
                outputs = []
            self.run.complete(outputs)
        elif isinstance(error, Exception):
            self.run.fail(error)
        else:  # GeneratorExit, KeyboardInterrupt: the step was stopped, not failed
            self.run.abort()
        return False


def dlt_load(context, loader, settings, source_kwargs: dict, pipeline, srv: config.Server) -> Step:
    """The lineage of one dlt load run by a Dagster step (job = the op's name)."""
    run = LineageRun(
        context.op_def.name,
        "DLT",
        "JOB",
        inputs=loader_inputs(loader, settings, source_kwargs),
        parent=dagster_parent(context),
    )
    step = Step(run)
    step.finish = lambda: dlt_outputs(pipeline, srv)
    return step


# --------------------------------------------------------------------------------------------
# e-SUS pulls (orchestration/defs/atencao_primaria.py)


def esus_job(id_municipio: str) -> str:
    return f"raw_esus_pec.{id_municipio}"


def esus_pull_start(context, municipios, tables: Iterable[str]) -> dict[str, LineageRun]:
    """START of the pull of each municipality: inputs = its PEC tables (public.<table> of its
    database, on its server)."""
    runs = {}
    for m in municipios:
        try:
            parts = urlsplit(m.safe_url())
            base = f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"
            datasets = inputs(uri_dataset(f"{base}/public.{t}") for t in tables)
        except Exception as exc:
            log.warning(f"lineage: PEC source of {m.id_municipio} unknown ({type(exc).__name__}: {exc})")
            datasets = []
        run = LineageRun(
            esus_job(m.id_municipio), "MIRANTE", "JOB", inputs=datasets, parent=dagster_parent(context)
        )
        run.start()
        runs[m.id_municipio] = run
    return runs


def esus_pull_end(
    runs: dict[str, LineageRun], results: Mapping, srv: config.Server, dataset: str, tables
) -> None:
    """COMPLETE (rows written per raw table) or FAIL (the error) of each municipality's pull; a
    municipality without a result (the pull raised) fails with `results` as the error."""
    for ident, run in runs.items():
        result = results.get(ident) if isinstance(results, Mapping) else None
        if result is None:
            run.fail(results if isinstance(results, BaseException) else "no result")
            continue
        written = [output(table_dataset(srv, dataset, t), result.rows.get(t)) for t in tables]
        written += [output(table_dataset(srv, dataset, t)) for t in ("execucoes", "cursores")]
        if result.status == "sucesso":
            run.complete(written)
        else:
            run.fail(f"{result.error_kind}/{result.error_code}: {result.error}", outputs=written[-2:])


def direct_load_start(context, job: str, sources: Iterable[str]) -> LineageRun:
    """START of a load that is not a dlt pipeline and writes raw itself (the ledger's capture, the
    payment stream: orchestration/defs/financas_razao.py, financas_eventos.py): inputs = the URIs
    it reads (`sources`, e.g. postgresql://host:port/db/public.<table>, https://host/v1/eventos)."""
    try:
        datasets = inputs(uri_dataset(u) for u in sources)
    except Exception as exc:
        log.warning(f"lineage: sources of {job} unknown ({type(exc).__name__}: {exc})")
        datasets = []
    run = LineageRun(job, "MIRANTE", "JOB", inputs=datasets, parent=dagster_parent(context))
    run.start()
    return run


def direct_load_end(
    run: LineageRun,
    result,
    srv: config.Server,
    dataset: str,
    rows: Mapping[str, int] | None = None,
    database=None,
) -> None:
    """COMPLETE with the rows written to each raw table (`rows`), or FAIL with the error (`result`
    is then the exception)."""
    if isinstance(result, BaseException):
        run.fail(result)
        return
    run.complete([output(table_dataset(srv, dataset, t, database), n) for t, n in (rows or {}).items()])


# --------------------------------------------------------------------------------------------
# dbt models (orchestration/defs/transform.py)


def dbt_models(target_path: Path, srv: config.Server, parent: tuple[str, str] | None = None) -> int:
    """One START and one COMPLETE/FAIL per model a dbt invocation ran, from its manifest.json and
    run_results.json (times: dbt's own). Returns the number of models reported."""
    import json

    try:
        manifest = json.loads((Path(target_path) / "manifest.json").read_text())
        results = json.loads((Path(target_path) / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning(f"lineage: no dbt artifacts in {target_path} ({type(exc).__name__}: {exc})")
        return 0
    nodes, sources = manifest.get("nodes", {}), manifest.get("sources", {})

    def relation(uid: str) -> list[tuple[str, str]]:
        if uid in sources:
            s = sources[uid]
            return [table_dataset(srv, s["schema"], s.get("identifier") or s["name"], s["database"])]
        n = nodes.get(uid)
        if n is None or n["resource_type"] not in ("model", "seed", "snapshot"):
            return []
        if n.get("config", {}).get("materialized") == "ephemeral":  # no relation: its parents are read
            return [d for p in n.get("depends_on", {}).get("nodes", []) for d in relation(p)]
        return [table_dataset(srv, n["schema"], n.get("alias") or n["name"], n["database"])]

    reported = 0
    for result in results:
        node = nodes.get(result.get("unique_id", ""))
        if not node or node["resource_type"] not in ("model", "seed", "snapshot"):
            continue
        status = result.get("status")
        if status not in ("success", "error"):  # skipped: never ran
            continue
        try:
            timing = result.get("timing") or []
            started = min((t["started_at"] for t in timing if t.get("started_at")), default=None)
            ended = max((t["completed_at"] for t in timing if t.get("completed_at")), default=None)
            run = LineageRun(
                f"dbt.{node['schema']}.{node['name']}",
                "DBT",
                "MODEL",
                inputs=inputs(d for p in node.get("depends_on", {}).get("nodes", []) for d in relation(p)),
                parent=parent,
            )
            materialized = node.get("config", {}).get("materialized")
            rows = (result.get("adapter_response") or {}).get("rows_affected")
            written = output(
                relation(node["unique_id"])[0],
                rows if materialized in ("table", "incremental") else None,
                {c: col.get("data_type") for c, col in node.get("columns", {}).items()},
            )
            run.start(started)
            if status == "success":
                run.complete([written], when=ended)
            else:
                run.fail(result.get("message") or "dbt error", when=ended)
            reported += 1
        except Exception as exc:
            log.warning(
                f"lineage: dbt node {node.get('unique_id')} not reported ({type(exc).__name__}: {exc})"
            )
    return reported


# --------------------------------------------------------------------------------------------
# Dagster runs


def dagster_run(job_name: str, run_id: str) -> LineageRun:
    return LineageRun(job_name, "DAGSTER", "JOB", run_id=run_id)


def execute_inline(job, **kwargs):
    """`job.execute_in_process(**kwargs)` with its run's START and COMPLETE/FAIL (the in-process
    runs of `mirante run`, which no sensor reports)."""
    run_id = str(uuid.uuid4())
    run = dagster_run(job.name, run_id)
    run.start()
    try:
        result = job.execute_in_process(run_id=run_id, **kwargs)
    except Exception as exc:
        run.fail(exc)
        raise
    if result.success:
        run.complete()
    else:
        try:
            message = result.get_run_failure_event().message or "run failed"
        except Exception:
            message = "run failed"
        run.fail(message)
    return result


def _run_sensor(status, state: RunState):
    @run_status_sensor(
        run_status=status,
        name=f"openlineage_run_{status.value.lower()}",
        default_status=DefaultSensorStatus.RUNNING,
        monitor_all_code_locations=True,
        minimum_interval_seconds=30,
        description=f"OpenLineage {state.value} event of every Dagster run that reaches {status.value} "
        "(runs executed in process by `mirante run` report themselves)",
    )
    def _sensor(context: RunStatusSensorContext):
        from mirante.orchestration.definitions import INLINE_ORIGIN, ORIGIN_TAG

        dagster_run_ = context.dagster_run
        if dagster_run_.tags.get(ORIGIN_TAG) == INLINE_ORIGIN:
            return SkipReason("run executed in process: it reported itself")
        record = context.instance.get_run_record_by_id(dagster_run_.run_id)
        when = None
        if record is not None:
            when = record.start_time if state == RunState.START else record.end_time
        run = dagster_run(dagster_run_.job_name, dagster_run_.run_id)
        if state == RunState.START:
            run.start(when)
        elif state == RunState.COMPLETE:
            run.complete(when=when)
        elif state == RunState.FAIL:
            run.fail(context.dagster_event.message or "run failed", when=when)
        else:
            run.abort(when)
        return None

    return _sensor


def run_sensors() -> list:
    """The run-status sensors that report the runs of the daemon (START, COMPLETE, FAIL, ABORT)."""
    return [
        _run_sensor(DagsterRunStatus.STARTED, RunState.START),
        _run_sensor(DagsterRunStatus.SUCCESS, RunState.COMPLETE),
        _run_sensor(DagsterRunStatus.FAILURE, RunState.FAIL),
        _run_sensor(DagsterRunStatus.CANCELED, RunState.ABORT),
    ]
