"""The loaders: one package per source, each exposing the same names.

Every `loaders/<source>/__init__.py` exposes

    DATASET        the raw schema it writes (= the dbt source name, = the first part of its asset keys)
    PIPELINE_NAME  its dlt pipeline (working folder, run lock, Dagster pool `dlt_<name>`)
    DOMAIN         the Dagster group of its assets and of the dbt models on top of them
    read_settings()  its settings object, read from mirante.config when called (never at import)
    LOADER         a `DltLoader` bundling the above with its `@dlt.source`: what the Dagster
                   factory (orchestration/defs/factory.py) turns into assets, and what tests,
                   drills and benchmarks run without Dagster (`LOADER.load()`)

The e-SUS loader is one of three exceptions to `LOADER`: ~650 source databases published batch by batch
in one transaction each, not a dlt pipeline (loaders/esus/__init__.py says why); it exposes the
same DATASET, PIPELINE_NAME, DOMAIN and read_settings(), and `pull_many` instead of a dlt source.
The ledger's change data capture (loaders/razao) is another: exactly once needs the raw rows and
the replication slot's confirmed LSN in ONE transaction, confirmed to the slot only after it commits
(docs/cdc.md); it exposes the same names and `capture()`.
The live payment stream (loaders/eventos_pagamento) is a third: its offset must be committed in
the same transaction as the events it describes, which dlt cannot do (its cursor is one more load
job, committed on its own); it exposes the same names and `ingest()`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol


class Settings(Protocol):
    """What a loader's settings object offers: the keyword arguments of its `@dlt.source`."""

    def source_kwargs(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DltLoader:
    """One dlt source and how to run it: the single shape every dlt loader takes."""

    #: dlt pipeline name (working folder, run lock, Dagster pool and resource key)
    name: str
    #: raw schema = dbt source name
    dataset: str
    #: Dagster group (the business domain: saneamento, comercial, ...)
    domain: str
    #: the `@dlt.source` function
    source: Callable[..., Any]
    #: `read_settings(**overrides)` -> Settings, read from mirante.config at call time
    read_settings: Callable[..., Settings]
    #: source keyword arguments that build the source for the asset definitions (no request made)
    placeholder: Mapping[str, Any]
    #: what a killed run's pending packages become: "resume" or "drop" (pipelines.settle_pending)
    pending_packages: str
    #: dlt's loader file format (None: dlt's default for the destination)
    loader_file_format: str | None = None
    #: child tables (nested lists) -> the resource that writes them
    child_tables: Mapping[str, str] = field(default_factory=dict)
    #: `session(settings, source_kwargs)`: a context manager yielding extra source keyword
    #: arguments for one run and closing them after (the ERP's login and logout)
    session: Callable[[Settings, dict], Any] | None = None
    #: errors shown as themselves, not wrapped in dlt's PipelineStepFailed (e.g. a refused key)
    clean_errors: tuple[type[BaseException], ...] = ()
    #: one line for the asset descriptions
    description: str = ""
    #: `origins(settings, source_kwargs)`: URIs of what one run reads (file:///..., the API's base
    #: URL), the inputs of its lineage (orchestration/lineage.py); None = the settings' `base_url`
    origins: Callable[[Settings, dict], list[str]] | None = None

    def read_origins(self, settings: Settings, source_kwargs: dict) -> list[str]:
        """What a run with these settings and options reads (see `origins`)."""
        if self.origins is not None:
            return self.origins(settings, source_kwargs)
        base_url = getattr(settings, "base_url", None)
        return [base_url] if base_url else []

    @contextmanager
    def open_source(self, settings: Settings | None = None, **source_kwargs: Any) -> Iterator[Any]:
        """A new source for one run (dagster-dlt alters a source's schema while it runs: never
        reuse one; docs/stack-notes.md), from `settings` (default: `self.read_settings()`), its session opened and closed."""
        settings = settings if settings is not None else self.read_settings()
        session = self.session(settings, source_kwargs) if self.session else nullcontext({})
        with session as extra:
            kwargs = {**settings.source_kwargs(), **source_kwargs, **extra}
            try:
                yield self.source(**kwargs)
            except Exception as exc:
                self.raise_clean(exc)
                raise

    def raise_clean(self, exc: BaseException) -> None:
        """Re-raise the first of `clean_errors` in `exc`'s cause chain, without dlt's wrapper."""
        from mirante.errors import find_cause

        for kind in self.clean_errors:
            found = find_cause(exc, kind)
            if found is not None:
                raise found from None

    def pipeline(self, srv=None, pipeline_name: str | None = None, dataset: str | None = None):
        """The pipeline into `dataset` as the loader role, a killed run's packages settled first."""
        from mirante.pipelines import make_pipeline, settle_pending

        pipeline = make_pipeline(pipeline_name or self.name, dataset or self.dataset, srv)
        return settle_pending(pipeline, self.pending_packages)

    def load(
        self,
        settings: Settings | None = None,
        *,
        srv=None,
        pipeline_name: str | None = None,
        dataset: str | None = None,
        loader_file_format: str | None = None,
        **source_kwargs: Any,
    ):
        """One load without Dagster (what the asset runs): returns dlt's LoadInfo."""
        pipeline = self.pipeline(srv, pipeline_name, dataset)
        fmt = loader_file_format or self.loader_file_format
        with self.open_source(settings, **source_kwargs) as source:
            return pipeline.run(source, **({"loader_file_format": fmt} if fmt else {}))


def sources() -> list[str]:
    """Names of every loader package under loaders/, in order."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def all_loaders() -> dict[str, Any]:
    """Every loader package, imported: {name: module} (each with DATASET, PIPELINE_NAME, DOMAIN)."""
    return {name: importlib.import_module(f"{__name__}.{name}") for name in sources()}


def dlt_loaders() -> dict[str, DltLoader]:
    """The dlt loaders by pipeline name: every package with a LOADER."""
    return {m.LOADER.name: m.LOADER for m in all_loaders().values() if hasattr(m, "LOADER")}


def raw_schemas() -> set[str]:
    """Every raw schema a loader writes (mirante.config.RAW_SCHEMAS must name the same: a test
    checks; config cannot import the loaders, the layer above it)."""
    return {m.DATASET for m in all_loaders().values()}
