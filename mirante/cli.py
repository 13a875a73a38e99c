"""`mirante` command line.

mirante db url [--role loader|transformer|reader|api]  start the server if needed, print a URL
mirante db setup                                    roles, database, schemas, grants; raw_esus fact
                                                    tables of older homes partitioned (one transaction)
mirante db env                                      shell exports for dbt / Dagster
mirante db stop                                     stop the embedded server
mirante db backup [--to FILE]                       pg_dump -Fc of the database (default file
                                                    MIRANTE_HOME/backups/<db>-<UTC time>.dump, mode 600)
mirante db restore FILE [--into NAME] [--force]     restore a backup (a non-empty database only with
                                                    --force), then re-apply the grants
mirante run                                         materialize the whole asset graph, print a summary
mirante ui [--port 3000]                            Dagster UI (database and emulator started)
mirante serve [--port 3000] | stop | prepare       the always-on service: Dagster daemon and webserver,
                                                    schedules and sensors running, storage in PostgreSQL
mirante docs [--port 8080]                          generate and serve the dbt docs
mirante api [--port 8000] [--host 127.0.0.1]        data API over the marts, as mirante_api
mirante api-key create --nome N --escopo MART [--escopo ...] [--municipio 7-DIGIT ...]
                                                    a data API key, printed once (stored hashed)
mirante api-key list                                the keys (id, name, scopes, municipalities, dates)
mirante api-key revoke ID                           revoke a key (effective on the next request)
mirante dashboard [--port 8001] [--screenshot PNG]  the dashboard (/dashboard, /dashboard/operacao,
           [--page painel|operacao|financas]        /dashboard/financas) served by the data API, with a key of its own
                                                    (address #chave=...)
mirante metrics [--port 9108] [--host 127.0.0.1]   Prometheus exporter: runs, loads, dbt, checks,
                                                    freshness, e-SUS lateness (read at each scrape)
mirante worker [--concurrency N] [--queue Q ...]     a Celery worker that executes the steps of Dagster runs
           [--name NAME]                            (MIRANTE_EXECUTOR=celery; broker MIRANTE_REDIS_URL)
mirante emulator ibge [--port N]                    serve the IBGE Localidades emulator
mirante emulator crm [--port N] [--generator S]     serve the Ploomes-like CRM emulator
mirante emulator erp [--port N] [--generator S]     serve the SAP B1 Service Layer-like ERP emulator
mirante emulator bcb [--port N]                     serve the Banco Central SGS emulator
mirante emulator snis_publicacao [--port N]         serve the shared SNIS exports as a publication
mirante emulator eventos_pagamento [--port N]       serve the live payment event stream (JSON lines)
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from mirante import config, db


def _db(args: argparse.Namespace) -> int:
    if args.action == "stop":
        if config.external_server():
            print("MIRANTE_DATABASE_URL names an external server: nothing to stop")
        else:
            print("stopped" if db.stop_embedded() else "not running")
        return 0
    if args.action in ("backup", "restore"):
        return _backup(args)
    if args.file or args.to or args.into or args.force:
        raise ValueError("FILE, --to, --into and --force go with `mirante db backup` / `mirante db restore`")
    srv = db.setup()
    if args.action == "url":
        print(srv.url(args.role) if args.role else srv.admin())
    elif args.action == "env":
        for key, value in db.export_env(srv).items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        from mirante.errors import mask

        print(f"ready: {mask(srv.admin())}")
        _partition_esus(srv)
        if config.external_server():
            _warn_without_logical_decoding(srv)
    return 0


def _warn_without_logical_decoding(srv) -> None:
    """A server by URL is configured by its operator: say clearly when the ledger's change data
    capture (loaders/razao) cannot run there (wal_level must be logical; docs/cdc.md)."""
    import psycopg

    with psycopg.connect(srv.admin("postgres"), connect_timeout=10) as conn:
        problem = db.logical_decoding_problem(conn)
    if problem:
        print(
            f"warning: the ledger's change data capture cannot run on this server: {problem}", file=sys.stderr
        )


def _backup(args: argparse.Namespace) -> int:
    from mirante import backup

    srv = db.server()
    if args.action == "backup":
        if args.file or args.into or args.force:
            raise ValueError("usage: mirante db backup [--to FILE]")
        path = backup.backup(srv, to=args.to)
        print(f"backup of {config.database_name()} written to {path} ({path.stat().st_size:,} bytes)")
        return 0
    if not args.file or args.to:
        raise ValueError("usage: mirante db restore FILE [--into NAME] [--force]")
    database = args.into or config.database_name()
    tables = backup.restore(srv, args.file, database, force=args.force)
    print(f"restored {args.file} into {database}: {tables} tables; grants re-applied")
    return 0


def _partition_esus(srv: config.Server) -> None:
    """raw_esus fact tables created before partitioning become partitioned (one transaction)."""
    import psycopg

    from mirante.loaders.esus import particoes

    with psycopg.connect(srv.admin(), autocommit=True) as conn:
        for table, rows in particoes.migrate(conn).items():
            print(f"raw_esus.{table}: partitioned by municipality ({rows:,} rows moved)")


def _run(args: argparse.Namespace) -> int:
    from mirante.orchestration.run import run_all

    return run_all(stop_server=args.stop_server)


def _serve(cmd: list[str], stop_server: bool) -> int:
    """Run a server in the foreground until Ctrl-C / SIGTERM, then stop what was started."""
    proc = subprocess.Popen(cmd, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()
    finally:
        if stop_server:
            db.stop_embedded()


def _ui(args: argparse.Namespace) -> int:
    """The Dagster UI over the same offline world as `mirante run` (emulators/world.py)."""
    from mirante.emulators import world
    from mirante.orchestration import instance

    started = config.external_server() is None and not db.embedded_running()
    with world.offline():
        instance.prepare()
        print(f"Dagster UI on http://127.0.0.1:{args.port}")
        dagster = Path(sys.executable).parent / "dagster"
        return _serve(
            [
                str(dagster),
                "dev",
                "-m",
                "mirante.orchestration.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(args.port),
            ],
            started,
        )


def _service(args: argparse.Namespace) -> int:
    from mirante.orchestration import service

    if args.action == "stop":
        print("stopped" if service.stop_service() else "mirante serve is not running")
        return 0
    if args.action == "prepare":
        home = service.prepare_instance(db.setup())
        print(f"DAGSTER_HOME={home}")
        return 0
    return service.serve(host=args.host, port=args.port, metrics_port=args.metrics_port)


def _docs(args: argparse.Namespace) -> int:
    from mirante.orchestration.resources import DBT_EXECUTABLE, DBT_PROJECT_DIR

    started = config.external_server() is None and not db.embedded_running()
    db.export_env(db.setup())
    dirs = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    subprocess.run([str(DBT_EXECUTABLE), "docs", "generate", *dirs], check=True)
    print(f"dbt docs on http://127.0.0.1:{args.port}")
    return _serve(
        [
            str(DBT_EXECUTABLE),
            "docs",
            "serve",
            *dirs,
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--no-browser",
        ],
        started,
    )


def _api(args: argparse.Namespace, dashboard_key: bool = False) -> int:
    """The data API in this process (uvicorn); stops the embedded DB afterwards if it started it.
    With dashboard_key, prints the dashboard's address with its key (created once, see
    mirante.api.dashboard.key)."""
    import uvicorn

    from mirante.api.app import create_app

    started = config.external_server() is None and not db.embedded_running()
    # uvicorn re-raises the signal that stopped it: make SIGTERM an exit that runs `finally`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv = db.setup()
        app = create_app(srv.url("api"), operations=_operations())
        marts = len(app.state.api.marts)
        print(
            f"data API on http://{args.host}:{args.port} (docs /docs) as {config.role_name('api')}, "
            f"{marts} marts"
            + ("" if marts else ": none built yet, run `make run` first")
            + "; every /v1 route needs a key (mirante api-key create)",
            flush=True,
        )
        if dashboard_key:
            from mirante.api import dashboard

            token = dashboard.key(srv)
            print(
                f"dashboard on http://{args.host}:{args.port}/dashboard#chave={token} "
                f"(refreshes every minute)",
                flush=True,
            )
        uvicorn.run(app, host=args.host, port=args.port)
    except KeyboardInterrupt:
        pass
    finally:
        if started:
            db.stop_embedded()
    return 0


def _operations():
    """What GET /v1/operacao answers: the exporter's view of the Dagster instance and warehouse."""
    from mirante.orchestration.operacao import provider

    return provider()


def _dashboard(args: argparse.Namespace) -> int:
    """The data API with its dashboard page; with --screenshot, a PNG of the page taken by headless
    Chromium from the app on a free loopback port, then everything it started is stopped."""
    if not args.screenshot:
        return _api(args, dashboard_key=True)
    from mirante.api import dashboard
    from mirante.api.app import create_app

    started = config.external_server() is None and not db.embedded_running()
    try:
        srv = db.setup()
        app = create_app(srv.url("api"), operations=_operations())
        token = dashboard.key(srv)
        with dashboard.serving(app) as base:
            page = "/dashboard" if args.page == "painel" else f"/dashboard/{args.page}"
            width, height = dashboard.screenshot(
                f"{base}{page}{args.query}#chave={token}",
                args.screenshot,
                *(args.window_size or (1400, None)),
            )
        print(
            f"dashboard screenshot ({width}x{height}) written to {args.screenshot} "
            f"({len(app.state.api.marts)} marts served by the API)"
        )
    finally:
        if started:
            db.stop_embedded()
    return 0


def _api_key(args: argparse.Namespace) -> int:
    from mirante.api import keys

    admin = db.setup().admin()
    if args.action == "create":
        key, token = keys.create(admin, args.nome, args.escopo, args.municipio or None)
        print(
            f"API key {key.label} created; scopes {', '.join(key.escopos)}; municipalities "
            f"{', '.join(key.municipios) if key.municipios else 'all'}"
        )
        print("the key (shown only now; send it as 'Authorization: Bearer <key>'):")
        print(token)
    elif args.action == "revoke":
        key = keys.revoke(admin, args.id)
        print(f"API key {key.label} revoked on {key.revogada_em:%Y-%m-%d %H:%M:%S %Z}")
    else:
        rows = keys.list_keys(admin)
        print(f"{'id':<16} {'nome':<20} {'escopos':<32} {'municipios':<20} {'criada_em':<19} revogada_em")
        for k in rows:
            print(
                f"mrt_{k.id:<12} {k.nome[:20]:<20} {','.join(k.escopos)[:32]:<32} "
                f"{','.join(k.municipios or ('(todos)',))[:20]:<20} {k.criada_em:%Y-%m-%d %H:%M:%S} "
                f"{f'{k.revogada_em:%Y-%m-%d %H:%M:%S}' if k.revogada_em else '-'}"
            )
        print(f"{len(rows)} key(s), {sum(k.revogada_em is None for k in rows)} active")
    return 0


def _metrics(args: argparse.Namespace) -> int:
    """The Prometheus exporter (orchestration/metrics.py) in the foreground until Ctrl-C / SIGTERM.
    Reads the Dagster storage under MIRANTE_HOME/dagster and the warehouse if it runs (never
    started here: a stopped database shows as scrape errors, not as a started server)."""
    import threading

    from mirante.orchestration import metrics

    collector = metrics.collector_for()
    server, _thread = metrics.serve(args.port, args.host, collector)
    print(
        f"metrics on http://{args.host}:{args.port}/metrics (Dagster storage {metrics.dagster_home()}; "
        f"{len(collector.cat.watched)} assets, {len(collector.cat.checks)} checks, "
        f"{len(collector.cat.jobs)} jobs)",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


def _window_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"expected WIDTH,HEIGHT in pixels, e.g. 1400,1800; got {text!r}"
        ) from e
    return width, height


def _worker(args: argparse.Namespace) -> int:
    """A dagster-celery worker (orchestration/executor.py) in the foreground, replacing this process
    (its PID is the worker's): the steps of runs launched with MIRANTE_EXECUTOR=celery, from the
    queues given, `--concurrency` at a time. It needs the broker (MIRANTE_REDIS_URL) and the
    warehouse the service uses (MIRANTE_DATABASE_URL, or the embedded server of this MIRANTE_HOME):
    it never starts a database. The runs' instance (storage) reaches it with each step."""
    from mirante.orchestration.executor import DEFAULT_QUEUE, celery_settings

    celery_settings()  # one clear line without a broker
    db.export_env(db.running_server())  # dbt's profile and the loaders read it
    # the service's instance in PostgreSQL names its password by environment variable (instance.py)
    dagster_password = config.role_password(config.DAGSTER_ROLE)
    if dagster_password:
        config.export({f"MIRANTE_{config.DAGSTER_ROLE.upper()}_PASSWORD": dagster_password})
    queues = ",".join(args.queue or [DEFAULT_QUEUE])
    name = args.name or f"mirante-{os.getpid()}@%h"
    cmd = [sys.executable, "-m", "celery", "-A", "mirante.orchestration.executor", "worker"]
    cmd += ["--queues", queues, "--concurrency", str(args.concurrency), "--hostname", name]
    cmd += ["--prefetch-multiplier", "1", "--loglevel", args.loglevel]
    print(f"mirante worker {name}: queues {queues}, concurrency {args.concurrency}", flush=True)
    os.execv(sys.executable, cmd)
    return 0  # not reached


def _emulator(args: argparse.Namespace) -> int:
    import importlib

    argv = ["--port", str(args.port)]
    if getattr(args, "generator", None):
        argv += ["--generator", str(args.generator)]
    return importlib.import_module(f"mirante.emulators.{args.source}").main(argv) or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mirante", description="Mirante ELT platform")
    sub = parser.add_subparsers(dest="command", required=True)

    p_db = sub.add_parser("db", help="the PostgreSQL server")
    p_db.add_argument("action", choices=["url", "setup", "env", "stop", "backup", "restore"])
    p_db.add_argument("file", nargs="?", help="restore: the backup file")
    p_db.add_argument("--role", choices=config.ROLES, help="URL of a Mirante role instead of the admin")
    p_db.add_argument("--to", metavar="FILE", help="backup: the file (default under MIRANTE_HOME/backups)")
    p_db.add_argument("--into", metavar="NAME", help="restore: into this database (default MIRANTE_DB)")
    p_db.add_argument("--force", action="store_true", help="restore: replace a database that is not empty")
    p_db.set_defaults(func=_db)

    p_run = sub.add_parser("run", help="materialize the whole Dagster asset graph offline")
    p_run.add_argument(
        "--keep-server",
        dest="stop_server",
        action="store_false",
        help="leave the embedded server running afterwards",
    )
    p_run.set_defaults(func=_run)

    p_ui = sub.add_parser("ui", help="Dagster UI on 127.0.0.1")
    p_ui.add_argument("--port", type=int, default=3000)
    p_ui.set_defaults(func=_ui)

    p_serve = sub.add_parser(
        "serve", help="the always-on service: Dagster daemon and webserver (stop: `mirante serve stop`)"
    )
    p_serve.add_argument(
        "action",
        nargs="?",
        choices=["start", "stop", "prepare"],
        default="start",
        help="start (default), stop a running service, or only prepare its storage and instance",
    )
    p_serve.add_argument("--port", type=int, default=3000)
    p_serve.add_argument("--metrics-port", type=int, default=9108)
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.set_defaults(func=_service)

    p_docs = sub.add_parser("docs", help="generate and serve the dbt docs on 127.0.0.1")
    p_docs.add_argument("--port", type=int, default=8080)
    p_docs.set_defaults(func=_docs)

    p_api = sub.add_parser(
        "api", help="data API over the marts on 127.0.0.1 (read-only, mirante_api, API keys)"
    )
    p_api.add_argument("--port", type=int, default=8000)
    p_api.add_argument("--host", default="127.0.0.1")
    p_api.set_defaults(func=_api)

    p_key = sub.add_parser("api-key", help="keys of the data API: create, list, revoke")
    key_sub = p_key.add_subparsers(dest="action", required=True)
    k_create = key_sub.add_parser("create", help="a new key, printed once")
    k_create.add_argument("--nome", required=True, help="who or what uses the key")
    k_create.add_argument(
        "--escopo",
        action="append",
        required=True,
        metavar="MART",
        help="a mart it may read, or a pattern (vendas_*, *); repeatable",
    )
    k_create.add_argument(
        "--municipio",
        action="append",
        metavar="ID_MUNICIPIO",
        help="restrict the e-SUS marts to this municipality (7-digit IBGE code); repeatable",
    )
    key_sub.add_parser("list", help="every key, active or revoked")
    k_revoke = key_sub.add_parser("revoke", help="revoke a key")
    k_revoke.add_argument("id", help="key id (12 hex digits, or mrt_<id>)")
    p_key.set_defaults(func=_api_key)

    p_dash = sub.add_parser("dashboard", help="the dashboard (sales KPIs, sanitation) on 127.0.0.1")
    p_dash.add_argument("--port", type=int, default=8001)
    p_dash.add_argument("--host", default="127.0.0.1")
    p_dash.add_argument("--screenshot", metavar="PNG", help="write a screenshot of the page and exit")
    p_dash.add_argument(
        "--query", default="", help="filters for the screenshot, e.g. '?uf=SP&ano=2025&mes=11'"
    )
    p_dash.add_argument(
        "--page",
        choices=("painel", "operacao", "financas"),
        default="painel",
        help="the page of the screenshot: painel (/dashboard), operacao (/dashboard/operacao) or "
        "financas (/dashboard/financas)",
    )
    p_dash.add_argument(
        "--window-size",
        type=_window_size,
        default=None,
        help="screenshot size WIDTH,HEIGHT (default: 1400 wide, the whole page tall)",
    )
    p_dash.set_defaults(func=_dashboard)

    p_met = sub.add_parser("metrics", help="Prometheus exporter on 127.0.0.1 (/metrics)")
    p_met.add_argument("--port", type=int, default=9108)
    p_met.add_argument("--host", default="127.0.0.1")
    p_met.set_defaults(func=_metrics)

    p_work = sub.add_parser("worker", help="a Celery worker for the steps of Dagster runs")
    p_work.add_argument("--concurrency", type=int, default=1, help="steps at once (default 1)")
    p_work.add_argument(
        "--queue", action="append", help="Celery queue to consume (repeatable; default dagster)"
    )
    p_work.add_argument("--name", help="node name (default mirante-<pid>@<host>)")
    p_work.add_argument("--loglevel", default="INFO")
    p_work.set_defaults(func=_worker)

    p_emu = sub.add_parser("emulator", help="source emulators")
    p_emu.add_argument(
        "source", choices=["ibge", "crm", "erp", "bcb", "snis_publicacao", "eventos_pagamento"]
    )
    p_emu.add_argument("--port", type=int, default=0)
    p_emu.add_argument(
        "--generator",
        type=float,
        metavar="SECONDS",
        help="crm, erp: advance the emulated clock one day every SECONDS",
    )
    p_emu.set_defaults(func=_emulator)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # one clear line for operators; MIRANTE_DEBUG=1 shows the traceback
        if config.debug():
            raise
        print(f"mirante: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
