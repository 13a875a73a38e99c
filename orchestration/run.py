"""`mirante run`: the whole asset graph, offline, on the embedded server, with a summary.

Enters the offline world (mirante/emulators/world.py: embedded PostgreSQL unless
MIRANTE_DATABASE_URL is set, the registry's PEC databases, the IBGE, CRM, ERP and BCB emulators unless
their base URLs are set), executes the `mirante_all` job of the same Definitions the
Dagster UI shows (runs are recorded in MIRANTE_HOME/dagster, visible in `make ui`), prints rows per
layer, quarantine, reconciliation and checks, and stops what it started.
"""

from __future__ import annotations

import os
import time

from mirante import config, db

from . import lineage
from .service import alive
from .summary import summary

LOG_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


#: tags of the runs `mirante run` executes in process: which process on which host runs them
PID_TAG = "mirante/pid"
HOST_TAG = "mirante/host"


def close_dead_runs(instance) -> list[str]:
    """Runs of an earlier `mirante run` on this host whose process is gone (killed) but that the
    instance still shows in progress: marked failed and their pool slots freed, or their steps
    would hold the pools (dlt_<pipeline>, dbt) and every later run would wait for them forever.
    No run launcher watches an in-process run; the data themselves are safe either way (the
    pipelines' advisory locks died with the process). Returns the runs closed."""
    import socket

    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    from mirante.orchestration.definitions import INLINE_ORIGIN, ORIGIN_TAG

    host = socket.gethostname()
    closed = []
    for run in instance.get_runs(
        filters=RunsFilter(
            statuses=IN_PROGRESS_RUN_STATUSES, tags={ORIGIN_TAG: INLINE_ORIGIN, HOST_TAG: host}
        )
    ):
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or alive(int(pid)):
            continue
        instance.report_run_failed(run, f"its process ({pid}) ended without finishing the run (killed?)")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        closed.append(run.run_id)
    return closed


def materialize(instance, log_config: dict | None = None):
    """The daily e-SUS pull (one run over every partition, as the `esus_daily` schedule launches
    it; a failure stays in its municipality), then the `mirante_all` job.
    Returns ({"esus_pull": pull run result}, main result)."""
    from mirante.orchestration.definitions import INLINE_ORIGIN, ORIGIN_TAG, defs
    from mirante.orchestration.defs.atencao_primaria import all_partitions_tags

    run_config = log_config if log_config is not None else LOG_INFO
    import socket

    closed = close_dead_runs(instance)
    if closed:
        print(f"closed {len(closed)} run(s) of a killed `mirante run`: {', '.join(closed)}")
    # tagged: this function rebuilds right after its pull, the sensor that chains them must not;
    # the process and host let the next call close these runs if this process is killed
    origin = {ORIGIN_TAG: INLINE_ORIGIN, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    # no sensor sees these runs (no daemon): their OpenLineage run events are emitted here
    pulls = {
        "esus_pull": lineage.execute_inline(
            defs.resolve_job_def("esus_pull"),
            instance=instance,
            tags={**all_partitions_tags(), **origin},
            raise_on_error=False,
            run_config=run_config,
        )
    }
    main = lineage.execute_inline(
        defs.resolve_job_def("mirante_all"),
        instance=instance,
        tags=origin,
        raise_on_error=False,
        run_config=run_config,
    )
    return pulls, main


def materialize_reports(instance, run_config: dict | None = None):
    """The monthly finance reports of the latest month with data (job `relatorios_financeiros`, its
    partition; the latest complete month when the data reach into the current one). Returns
    (month, run result), or (None, None) when the marts hold no month of the reports' range."""
    import socket

    from mirante.orchestration.definitions import INLINE_ORIGIN, ORIGIN_TAG, defs
    from mirante.orchestration.defs.relatorios import mes_a_gerar

    from .resources import Warehouse

    mes = mes_a_gerar(Warehouse().url("reader"))
    if mes is None:
        return None, None
    origin = {ORIGIN_TAG: INLINE_ORIGIN, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    result = lineage.execute_inline(
        defs.resolve_job_def("relatorios_financeiros"),
        instance=instance,
        tags=origin,
        partition_key=mes,
        raise_on_error=False,
        run_config=run_config if run_config is not None else LOG_INFO,
    )
    return mes, result


def poll_snis_publication() -> None:
    """With an SNIS publication configured (MIRANTE_SNIS_PUBLICACAO_URL), fetch its new or changed
    exports into the loader's folder first: `mirante run` runs no sensor, so it polls once itself
    (loaders/snis/publicacao.py). Without one, nothing: the folder is loaded as it is."""
    from mirante.loaders.snis import read_settings
    from mirante.loaders.snis.publicacao import poll

    settings = read_settings()
    if settings.publication is None:
        return
    fetched = poll(settings.publication)
    changed = [f.nome for f in fetched if f.estado != "inalterado"]
    print(
        f"SNIS publication {settings.publication.url}: {len(fetched)} exports, "
        f"{len(changed)} new or changed, current in {settings.directory}"
    )


def run_all(stop_server: bool = True) -> int:
    from dagster import DagsterInstance

    from mirante.emulators import world
    from mirante.orchestration import instance as dagster_instance

    started_server = config.external_server() is None and not db.embedded_running()
    t0 = time.monotonic()
    try:
        with world.offline() as offline:
            dagster_instance.prepare()
            poll_snis_publication()
            with DagsterInstance.get() as instance:
                pulls, result = materialize(instance)
                mes, reports = materialize_reports(instance) if result.success else (None, None)
            print(summary(offline.server, result, pulls))
            if mes is not None:
                print(
                    f"monthly reports of {mes}: {'written' if reports.success else 'FAILED'} "
                    f"({config.relatorios_dir() / mes})"
                )
        print(f"elapsed: {time.monotonic() - t0:.1f} s")
        ok = result.success and all(r.success for r in pulls.values())
        return 0 if ok and (reports is None or reports.success) else 1
    finally:
        if started_server and stop_server:
            db.stop_embedded()
