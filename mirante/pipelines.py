"""dlt pipelines of Mirante: Postgres destination as the loader role, state under MIRANTE_HOME."""

from __future__ import annotations

import os

import dlt

from mirante import config, db

#: dlt's writer settings for bulk Arrow loads (../shared/docs/PERF.md): gzip at level 9 costs
#: most of the load time on 2 cores and buys nothing on loopback.
WRITER_ENV = {
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
    # Arrow rows carry the load id too (raw tables keep file, line and load id)
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    # big tables split into several load files, loaded in parallel (PERF.md: ~1.3x for parquet)
    "DATA_WRITER__FILE_MAX_ITEMS": "100000",
}


def destination(srv: config.Server | None = None):
    srv = srv or db.server()
    return dlt.destinations.postgres(credentials=srv.url("loader"))


def make_pipeline(pipeline_name: str, dataset_name: str, srv: config.Server | None = None) -> dlt.Pipeline:
    """A pipeline writing `dataset_name` (= Postgres schema = dbt source) as mirante_loader."""
    for key, value in WRITER_ENV.items():
        os.environ.setdefault(key, value)
    pipelines_dir = config.home() / "dlt"
    pipelines_dir.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination(srv),
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir),
        progress="log" if os.environ.get("MIRANTE_DLT_PROGRESS") else None,
    )


def retrying_session(*, max_attempts: int, backoff_factor: float, max_retry_delay: float,
                     request_timeout: float):
    """dlt's retrying `requests` session for the REST sources: 429, 5xx and connection errors
    retried with exponential backoff (`backoff_factor * 2**n`, at most `max_retry_delay` s),
    Retry-After honoured; other errors are left to the caller (the REST client's response hooks
    raise them after the retries, e.g. a rejected credential at once)."""
    from dlt.sources.helpers.requests import Client

    return Client(
        request_timeout=request_timeout,
        raise_for_status=False,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=max_retry_delay,
        respect_retry_after_header=True,
    ).session


#: what to do with the load packages a killed run left behind (see `settle_pending`)
RESUME, DROP = "resume", "drop"


def settle_pending(pipeline: dlt.Pipeline, policy: str) -> dlt.Pipeline:
    """Finish or abort the load packages a killed run left behind, before a new run.

    Why: a run killed in normalize or load leaves its package on disk, and dlt's own `run` would
    then load that package and return *without extracting the new data*; the run would report
    success with yesterday's data. Every dlt loader calls this before `run`, with its policy for
    packages whose load has not begun:

    - `resume`: normalize and load them (a package exists only once its extract completed, so it
      is whole). Right when the next run may not re-read the same data: an incremental source
      whose cursor already moved past it, or a run limited to some files.
    - `drop`: abort them. Right when the next run re-extracts everything anyway.

    A package whose load began (a job started, completed or failed) is aborted whatever the
    policy: dlt re-runs an interrupted job from its start, so a job whose transaction committed
    just before the kill would be applied twice (a duplicate `_dlt_id` that fails the package for
    good, seen in the ERP drill, or doubled child rows). Aborting (`Pipeline.abort_packages`)
    records the package as aborted, deletes the later ones and rewinds the local state and schemas
    to before it, so the next run reads its data again (an incremental cursor included) and the
    merge applies it once. dlt never restores a state from the destination that an unfinished
    package wrote (it reads the state of completed loads only).

    Returns the pipeline, so call sites can wrap `make_pipeline(...)`.
    """
    from dlt.common.storages.load_package import PackageStorage

    if policy not in (RESUME, DROP):
        raise ValueError(f"unknown policy for pending dlt packages: {policy!r}")
    if not pipeline.has_pending_data:
        return pipeline
    import logging

    extracted = list(pipeline.list_extracted_load_packages())
    normalized = list(pipeline.list_normalized_load_packages())
    begun = []
    for load_id in normalized:
        info = pipeline.get_load_package_info(load_id)
        if PackageStorage.is_package_partially_loaded(info) or any(
                info.jobs[s] for s in ("started_jobs", "completed_jobs", "failed_jobs")):
            begun.append(load_id)
    action = "dropping" if policy == DROP or begun else "resuming"
    logging.getLogger(__name__).warning(
        "pipeline %s: %s the packages of an interrupted run (extracted %s, normalized %s, load begun %s)",
        pipeline.pipeline_name, action, extracted, normalized, begun)
    if action == "dropping":
        pipeline.abort_packages()
    else:
        if extracted:
            pipeline.normalize()
        if pipeline.list_normalized_load_packages():
            pipeline.load()
    return pipeline
