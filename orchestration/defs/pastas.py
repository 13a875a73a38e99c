"""Watched folders: one sensor shape for every loader that reads files a person or a poller drops in
a folder (SNIS exports, finance history files).

Each tick compares every file's sha256 with the loader's registry of loaded files
(`raw_<source>.arquivos.sha256`), not with a cursor, so a sensor started on a database that already
holds the files (after `make run`) asks for nothing. It asks for ONE run with every file that is
neither loaded nor in a run in progress (one dlt run and one dbt rebuild however many files
landed); the run key is the hash of those files' contents, so a failed load is not relaunched every
tick (change the file or rerun it). The cursor only keeps each file's (mtime, size) -> sha256, so an
unchanged file is not hashed again. A database that cannot be read skips the tick, cursor unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor


@dataclass(frozen=True)
class WatchedFolder:
    """One loader's folder, as its sensor sees it."""

    #: sensor name, as operators see it in the UI
    sensor_name: str
    #: the job a new file asks for, and the op inside it that takes `files` as config
    job: object
    op_name: str
    #: resource key of the loader's `LoaderSettings` (its `.read().directory` is the folder)
    settings_resource: str
    #: the files of the folder the loader would load (its own listing rule)
    list_files: Callable[[Path], Iterable[Path]]
    #: the loader's registry of loaded files (a table with a `sha256` column)
    registry_table: str
    #: run tag holding {file name: sha256} of a run's files (read back from runs in progress)
    files_tag: str
    description: str


def file_sha256(path) -> str:
    """sha256 of a file's bytes (what the loaders store in their `arquivos.sha256`), streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def loaded_hashes(warehouse, registry_table: str) -> set[str]:
    """sha256 of every file the registry table holds (empty before the loader's first load)."""
    import psycopg

    with psycopg.connect(warehouse.url("transformer"), connect_timeout=10) as conn:
        if not conn.execute("select to_regclass(%s)", (registry_table,)).fetchone()[0]:
            return set()
        return {
            sha
            for (sha,) in conn.execute(f"select sha256 from {registry_table} where sha256 is not null")  # noqa: S608
        }


def in_flight_hashes(instance, job_name: str, files_tag: str) -> set[str]:
    """sha256 of the files that runs of `job_name` in progress are loading (their `files_tag`)."""
    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    out: set[str] = set()
    for run in instance.get_runs(filters=RunsFilter(job_name=job_name, statuses=IN_PROGRESS_RUN_STATUSES)):
        with contextlib.suppress(ValueError, AttributeError):
            out.update(json.loads(run.tags.get(files_tag, "{}")).values())
    return out


def watched_folder_sensor(folder: WatchedFolder):
    """The sensor of one watched folder (see the module's docstring), every 60 s, on by default."""

    @sensor(
        name=folder.sensor_name,
        job=folder.job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse", folder.settings_resource},
        description=folder.description,
    )
    def _sensor(context: SensorEvaluationContext, **_called_with):
        # the daemon passes resources on the context only; a direct call also as keywords
        resources = context.resources
        cached = json.loads(context.cursor) if context.cursor else {}
        directory = getattr(resources, folder.settings_resource).read().directory
        files: dict[str, tuple[str, str]] = {}
        for p in folder.list_files(directory):
            stat = p.stat()
            stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
            previous = cached.get(p.name)
            files[p.name] = (stamp, previous[1] if previous and previous[0] == stamp else file_sha256(p))
        try:
            loaded = loaded_hashes(resources.warehouse, folder.registry_table)
        except Exception as exc:  # the database is down: try again next tick, cursor unchanged
            return SkipReason(
                f"cannot read {folder.registry_table} ({type(exc).__name__}); nothing requested"
            )
        busy = in_flight_hashes(context.instance, folder.job.name, folder.files_tag)
        context.update_cursor(json.dumps({name: list(v) for name, v in files.items()}))
        new = {name: sha for name, (_, sha) in sorted(files.items()) if sha not in loaded and sha not in busy}
        if not new:
            return SkipReason(f"every file in {directory} is loaded or being loaded")
        key = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()[:32]
        return RunRequest(
            run_key=f"{folder.settings_resource}:{key}",
            run_config={"ops": {folder.op_name: {"config": {"files": list(new)}}}},
            tags={folder.files_tag: json.dumps(new, sort_keys=True)},
        )

    return _sensor
