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
