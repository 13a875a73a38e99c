"""OpenLineage events (orchestration/lineage.py): every event of the session's graph build is valid
against the OpenLineage JSON schema (vendored under tests/data/openlineage/, no network); the chain
source -> raw -> staging -> mart of every domain is rebuilt from the events alone; an HTTP receiver
on loopback gets the events when MIRANTE_OPENLINEAGE_URL points at it, and a receiver that is down
loses none; Dagster runs report START and COMPLETE/FAIL, in process and through the run-status
sensors the daemon runs."""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from mirante import config
from mirante.emulators.world import environ
from mirante.orchestration import lineage

SPEC_DIR = Path(__file__).parent / "data" / "openlineage"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def _registry() -> Registry:
    resources = []
    for path in sorted(SPEC_DIR.glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()
FORMATS = FormatChecker()


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    return (
        not isinstance(value, str) or datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    )


@FORMATS.checks("uri", raises=ValueError)
def _uri(value) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=REGISTRY, format_checker=FORMATS)


def _facets(event: dict):
    """(where, facet) of every facet of an event."""
    for kind in ("run", "job"):
        for name, facet in (event.get(kind, {}).get("facets") or {}).items():
            yield f"{kind}.{name}", facet
    for side in ("inputs", "outputs"):
        for ds in event.get(side) or []:
            for group in ("facets", "inputFacets", "outputFacets"):
                for name, facet in (ds.get(group) or {}).items():
                    yield f"{side}[{ds['name']}].{name}", facet


def schema_problems(event: dict) -> list[str]:
    """Every violation of the core schema and of each facet's own schema (its `_schemaURL`)."""
    problems = [
        f"{e.json_path}: {e.message}" for e in _validator(CORE + "#/$defs/RunEvent").iter_errors(event)
    ]
    for where, facet in _facets(event):
        url = facet.get("_schemaURL", "")
        if url.split("#")[0] not in REGISTRY:
            problems.append(f"{where}: schema {url} not vendored in {SPEC_DIR}")
            continue
        problems += [f"{where}{e.json_path[1:]}: {e.message}" for e in _validator(url).iter_errors(facet)]
    return problems


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------
# the schema check itself must be able to fail


def test_schema_check_rejects_a_broken_event():
    run = lineage.LineageRun("t", "DLT", "JOB", inputs=lineage.inputs([("file", "/x.csv")]))
    good = json.loads(lineage.Serde.to_json(run._event(lineage.RunState.START, None)))
    assert schema_problems(good) == []
    assert schema_problems({**good, "run": {"runId": "not-a-uuid"}})
    bad_facet = json.loads(json.dumps(good))
    bad_facet["job"]["facets"]["jobType"].pop("integration")
    assert any("integration" in p for p in schema_problems(bad_facet))


def test_naming_rule():
    srv = config.Server(host="127.0.0.1", port=5433, admin_url="postgresql://x@127.0.0.1:5433/p", ssl={})
    assert lineage.table_dataset(srv, "raw_snis", "agua_esgoto_agregado", "mirante") == (
        "postgres://127.0.0.1:5433",
        "mirante.raw_snis.agua_esgoto_agregado",
    )
    assert lineage.uri_dataset("file:///data/snis/a.csv") == ("file", "/data/snis/a.csv")
    assert lineage.uri_dataset("http://127.0.0.1:8082/") == ("http://127.0.0.1:8082", "/")
    assert lineage.uri_dataset("postgresql://Host:5433/pec_1/public.tb") == (
        "postgres://host:5433",
        "pec_1.public.tb",
    )


# --------------------------------------------------------------------------------------------
# the session's graph build


@pytest.fixture(scope="module")
def events(built, built_lineage_file) -> list[dict]:
    return read_events(built_lineage_file)


@pytest.mark.integration
def test_every_event_of_the_build_is_valid(events):
    assert len(events) > 100, f"only {len(events)} events for the whole graph"
    problems = {}
    for event in events:
        found = schema_problems(event)
        if found:
            problems[f"{event['job']['name']} {event['eventType']}"] = found[:3]
    assert not problems, json.dumps(dict(list(problems.items())[:10]), indent=1)
    kinds = {e["job"]["facets"]["jobType"]["integration"] for e in events}
    assert kinds == {"DLT", "DBT", "MIRANTE", "DAGSTER"}, kinds


def _graph(events: list[dict]) -> dict[tuple, set[tuple]]:
    """dataset -> datasets written by the runs that read it (COMPLETE events only)."""
    edges: dict[tuple, set[tuple]] = defaultdict(set)
    for e in events:
        if e["eventType"] != "COMPLETE":
            continue
        for i in e.get("inputs") or []:
            for o in e.get("outputs") or []:
                edges[(i["namespace"], i["name"])].add((o["namespace"], o["name"]))
    return edges


def _reach(edges, start: tuple) -> set[tuple]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.integration
def test_chains_source_raw_staging_mart_from_the_events_alone(events, built):
    srv, db = built, config.database_name()
    warehouse = f"postgres://{srv.host}:{srv.port}"
    edges = _graph(events)
    datasets = set(edges) | {o for outs in edges.values() for o in outs}
    # sources outside the warehouse, found in the events (their names depend on the machine)
    snis_file = next(
        d for d in datasets if d[0] == "file" and d[1].endswith("agua-esgoto-agregado_2021.utf16.csv")
    )
    loaders = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    http = {
        name: (loaders[name]["inputs"][0]["namespace"], loaders[name]["inputs"][0]["name"])
        for name in ("raw_ibge", "raw_crm", "raw_erp")
    }
    assert all(ns.startswith("http://127.0.0.1:") for ns, _ in http.values()), http
    pec = next(
        (i["namespace"], i["name"])
        for i in loaders["raw_esus_pec.2704302"]["inputs"]
        if i["name"].endswith(".public.tb_fat_atendimento_individual")
    )

    def table(schema_table: str) -> tuple[str, str]:
        return (warehouse, f"{db}.{schema_table}")

    chains = {
        "saneamento": (
            snis_file,
            "raw_snis.agua_esgoto_agregado",
            "staging.stg_snis__agua_esgoto_agregado",
            "marts.fct_saneamento_prestador_ano",
        ),
        "comum": (
            http["raw_ibge"],
            "raw_ibge.municipios",
            "staging.stg_ibge__municipios",
            "marts.dim_municipio",
        ),
        "atencao_primaria": (
            pec,
            "raw_esus.tb_fat_atendimento_individual",
            "staging.stg_esus__atendimento_individual",
            "marts.fct_atendimento_individual_diario",
        ),
        "comercial_crm": (
            http["raw_crm"],
            "raw_crm.deals",
            "staging.stg_crm__deals",
            "marts.kpi_comercial_diario",
        ),
        "comercial_erp": (
            http["raw_erp"],
            "raw_erp.orders__document_lines",
            "staging.stg_erp__order_lines",
            "marts.vendas_ano_mes",
        ),
    }
    for domain, (source, raw, staging, mart) in chains.items():
        hops = [source, table(raw), table(staging), table(mart)]
        for a, b in zip(hops, hops[1:], strict=False):
            assert b in _reach(edges, a), f"{domain}: no path {a} -> {b} in the events"


@pytest.mark.integration
def test_every_raw_table_dbt_reads_is_written_by_a_load(events):
    """One naming: each raw table a dbt model reads is, name for name, a loader's output."""
    written = {
        (o["namespace"], o["name"])
        for e in events
        if e["job"]["facets"]["jobType"]["integration"] in ("DLT", "MIRANTE")
        for o in e.get("outputs") or []
    }
    read = {
        (i["namespace"], i["name"])
        for e in events
        if e["job"]["facets"]["jobType"]["integration"] == "DBT"
        for i in e.get("inputs") or []
        if i["name"].split(".")[1].startswith("raw_")
    }
    assert read, "dbt events read no raw table"
    assert read <= written, sorted(read - written)[:10]


@pytest.mark.integration
def test_dbt_models_are_named_as_openlineage_dbt_names_them(events, built):
    """openlineage-dbt (`dbt-ol`) run over the same build's artifacts gives the same datasets, edge
    for edge: Mirante's dbt events and dbt-ol's are interchangeable in a catalogue."""
    from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor

    from mirante.orchestration.resources import DBT_PROJECT_DIR

    run_id = next(e["run"]["runId"] for e in events if e["job"]["name"] == "mirante_all")
    (target,) = DBT_PROJECT_DIR.glob(f"target/dbt_models-{run_id[:7]}-*")
    processor = DbtLocalArtifactProcessor(
        producer=lineage.PRODUCER,
        job_namespace=lineage.NAMESPACE,
        project_dir=str(DBT_PROJECT_DIR),
        target_path=str(target),
        dbt_command_line=["dbt", "build"],
    )
    theirs = {
        (o.namespace, o.name): sorted((i.namespace, i.name) for i in e.inputs)
        for e in processor.parse().completes
        for o in e.outputs
    }
    ours = {
        (e["outputs"][0]["namespace"], e["outputs"][0]["name"]): sorted(
            (i["namespace"], i["name"]) for i in e["inputs"]
        )
        for e in events
        if e["job"]["name"].startswith("dbt.") and e["eventType"] == "COMPLETE"
    }
    assert len(ours) > 40
    assert ours == theirs


@pytest.mark.integration
def test_loads_report_tables_and_rows(events, built):
    snis = [e for e in events if e["job"]["name"] == "raw_snis" and e["eventType"] == "COMPLETE"]
    assert snis, "no COMPLETE of the SNIS load"
    rows = {
        o["name"].split(".", 1)[1]: o["outputFacets"]["outputStatistics"]["rowCount"]
        for o in snis[-1]["outputs"]
    }
    # rows written by the load: every file's loaded lines (the merge on the grain keeps fewer)
    with psycopg.connect(built.admin()) as conn:
        files, loaded = conn.execute(
            "select count(*), sum(linhas_carregadas) from raw_snis.arquivos"
        ).fetchone()
    assert rows["raw_snis.agua_esgoto_agregado"] == loaded, rows
    assert rows["raw_snis.arquivos"] == files, rows
    crm = [e for e in events if e["job"]["name"] == "raw_crm" and e["eventType"] == "COMPLETE"][-1]
    assert {o["name"].split(".", 1)[1] for o in crm["outputs"]} >= {
        "raw_crm.contacts",
        "raw_crm.contacts__phones",
        "raw_crm.deals",
    }
    mart = [e for e in events if e["job"]["name"] == "dbt.marts.fct_saneamento_prestador_ano"]
    assert [e["eventType"] for e in mart] == ["START", "COMPLETE"]
    assert mart[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 1871


@pytest.mark.integration
def test_dagster_runs_of_the_build_start_and_complete_and_parent_their_steps(events):
    runs = {}
    for e in events:
        if e["job"]["facets"]["jobType"]["integration"] == "DAGSTER":
            runs.setdefault(e["job"]["name"], []).append((e["eventType"], e["run"]["runId"]))
    assert set(runs) == {"esus_pull", "mirante_all"}, runs
    for name, seen in runs.items():
        assert [s for s, _ in seen] == ["START", "COMPLETE"], (name, seen)
        assert seen[0][1] == seen[1][1]
    main = runs["mirante_all"][0][1]
    parents = {
        e["run"]["facets"]["parent"]["run"]["runId"]
        for e in events
        if e["job"]["facets"]["jobType"]["integration"] in ("DLT", "DBT")
    }
    assert parents == {main}


# --------------------------------------------------------------------------------------------
# transport: a real HTTP receiver on loopback


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_receiver_gets_the_events(receiver, tmp_path, monkeypatch):
    monkeypatch.setattr(lineage, "_http_down_until", 0.0)
    port = receiver.server_address[1]
    events_file = tmp_path / "events.jsonl"
    with environ(
        {"MIRANTE_OPENLINEAGE_URL": f"http://127.0.0.1:{port}", "MIRANTE_OPENLINEAGE_FILE": str(events_file)}
    ):
        run = lineage.LineageRun("raw_teste", "DLT", "JOB", inputs=lineage.inputs([("file", "/tmp/a.csv")]))
        run.start()
        run.complete([lineage.output(("postgres://127.0.0.1:5432", "mirante.raw_teste.t"), 3)])
    assert [path for path, _ in _Receiver.received] == ["/api/v1/lineage"] * 2
    bodies = [body for _, body in _Receiver.received]
    assert [b["eventType"] for b in bodies] == ["START", "COMPLETE"]
    assert all(schema_problems(b) == [] for b in bodies)
    assert not events_file.exists(), "the receiver took them: nothing kept in the file"


def test_a_receiver_that_is_down_loses_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(lineage, "_http_down_until", 0.0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    port = httpd.server_address[1]
    httpd.server_close()  # nothing listens on that port any more
    events_file = tmp_path / "events.jsonl"
    with environ(
        {
            "MIRANTE_OPENLINEAGE_URL": f"http://127.0.0.1:{port}/api/v1/lineage",
            "MIRANTE_OPENLINEAGE_FILE": str(events_file),
        }
    ):
        run = lineage.LineageRun("raw_teste", "DLT", "JOB")
        run.start()
        run.fail(RuntimeError("boom"))
    kept = read_events(events_file)
    assert [e["eventType"] for e in kept] == ["START", "FAIL"]
    assert kept[1]["run"]["facets"]["errorMessage"]["message"] == "RuntimeError: boom"


# --------------------------------------------------------------------------------------------
# Dagster runs outside `mirante run`: the run-status sensors


def test_run_status_sensors_report_daemon_runs(tmp_path):
    from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context, job, op

    @op
    def ok():
        return 1

    @op
    def boom():
        raise RuntimeError("op failed on purpose")

    @job(name="lineage_ok")
    def good():
        ok()

    @job(name="lineage_bad")
    def bad():
        boom()

    sensors = {s.name: s for s in lineage.run_sensors()}
    events_file = tmp_path / "events.jsonl"
    kinds = {
        DagsterEventType.RUN_START: "openlineage_run_started",
        DagsterEventType.RUN_SUCCESS: "openlineage_run_success",
        DagsterEventType.RUN_FAILURE: "openlineage_run_failure",
    }
    with DagsterInstance.ephemeral() as instance, environ({"MIRANTE_OPENLINEAGE_FILE": str(events_file)}):
        for dagster_job in (good, bad):
            result = dagster_job.execute_in_process(instance=instance, raise_on_error=False)
            run = instance.get_run_by_id(result.run_id)
            for record in instance.all_logs(result.run_id):
                event = record.dagster_event
                if event is None or event.event_type not in kinds:
                    continue
                name = kinds[event.event_type]
                sensors[name](
                    build_run_status_sensor_context(
                        sensor_name=name, dagster_event=event, dagster_instance=instance, dagster_run=run
                    )
                )
        reported = {(e["job"]["name"], e["eventType"], e["run"]["runId"]) for e in read_events(events_file)}
        ok_id, bad_id = (
            r.run_id for r in sorted(instance.get_runs(), key=lambda r: r.job_name, reverse=True)
        )
    assert reported == {
        ("lineage_ok", "START", ok_id),
        ("lineage_ok", "COMPLETE", ok_id),
        ("lineage_bad", "START", bad_id),
        ("lineage_bad", "FAIL", bad_id),
    }
    failed = next(e for e in read_events(events_file) if e["eventType"] == "FAIL")
    assert "boom" in failed["run"]["facets"]["errorMessage"]["message"]
    assert all(schema_problems(e) == [] for e in read_events(events_file))


def test_inline_runs_report_themselves(tmp_path):
    from dagster import DagsterInstance, job, op

    @op
    def boom():
        raise RuntimeError("inline failure")

    @job(name="lineage_inline_bad")
    def bad():
        boom()

    events_file = tmp_path / "events.jsonl"
    with DagsterInstance.ephemeral() as instance, environ({"MIRANTE_OPENLINEAGE_FILE": str(events_file)}):
        result = lineage.execute_inline(bad, instance=instance, raise_on_error=False)
    kept = read_events(events_file)
    assert [(e["eventType"], e["run"]["runId"]) for e in kept] == [
        ("START", result.run_id),
        ("FAIL", result.run_id),
    ]
    assert "boom" in kept[1]["run"]["facets"]["errorMessage"]["message"]


def test_a_failing_step_reports_fail_and_a_stopped_one_abort(tmp_path):
    events_file = tmp_path / "events.jsonl"

    def load(fail: bool):
        step = lineage.Step(lineage.LineageRun("raw_teste", "DLT", "JOB"))
        step.finish = lambda: [lineage.output(("postgres://127.0.0.1:5432", "mirante.raw_teste.t"), 7)]
        with step:
            yield 1
            if fail:
                raise ValueError("source answered 500 with password=hunter2")
            yield 2

    with environ({"MIRANTE_OPENLINEAGE_FILE": str(events_file), "MIRANTE_ESUS_PASSWORD": "hunter2"}):
        assert list(load(fail=False)) == [1, 2]
        with pytest.raises(ValueError):
            list(load(fail=True))
        stopped = load(fail=False)
        next(stopped)
        stopped.close()  # Dagster stopped the step: GeneratorExit inside it
    kept = read_events(events_file)
    assert [e["eventType"] for e in kept] == ["START", "COMPLETE", "START", "FAIL", "START", "ABORT"]
    assert kept[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 7
    message = kept[3]["run"]["facets"]["errorMessage"]["message"]
    assert message.startswith("ValueError: source answered 500") and "hunter2" not in message
    assert all(schema_problems(e) == [] for e in kept)
