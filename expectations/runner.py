"""Run the Great Expectations suites of `expectations/suites/` against PostgreSQL tables.

A suite is a hand-maintained JSON file named after the relation it guards,
`suites/<schema>.<table>.json`:

    {
      "description": "what the table is and why it is guarded",
      "expectations": [
        {"expectation_type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "codigo_municipio"},
         "meta": {"notes": "why this check exists"}}
      ]
    }

Adding a check is adding an entry to `expectations`. `expectation_type` is any expectation GE 1.x
knows (snake case), `kwargs` are its arguments, `meta.notes` (required) says why.

`run_suite` validates one suite with an ephemeral GE context (no files written, no GE project):
a postgres datasource from a TCP URL, a table asset, a whole-table batch, an ExpectationSuite and
a ValidationDefinition. Great Expectations is imported inside the functions: importing it costs
about 3 s, and the modules that import this one (Dagster definitions) must load fast.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITES_DIR = Path(__file__).resolve().parent / "suites"

#: a suite name is `<schema>.<table>`, both plain lower-case SQL identifiers
_SUITE_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")

#: how many unexpected values / observed list items a failure summary keeps
_SAMPLE = 10


@dataclass(frozen=True)
class SuiteResult:
    """Outcome of one suite run.

    success:    every expectation passed
    evaluated:  number of expectations evaluated
    failed:     one dict per failed expectation, in suite order: expectation_type, column (None
                for table-level checks, "a, b" for multi-column ones), index (position in the suite
                file), kwargs, notes, and a summary of what was seen
                (observed, unexpected_count, unexpected_percent, partial_unexpected, missing_columns,
                unexpected_columns, exception, as they apply)
    statistics: GE's statistics (evaluated/successful/unsuccessful_expectations, success_percent)
                plus `relation` (schema.table validated) and `run_seconds` (context set-up +
                validation, without the one-off import of GE)
    """

    success: bool
    evaluated: int
    failed: list[dict] = field(default_factory=list)
    statistics: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# suite files


def list_suites() -> list[str]:
    """Names of the suites on disk, e.g. ["marts.dim_municipio", "raw_snis.agua_esgoto_agregado"]."""
    return sorted(
        p.name[: -len(".json")]
        for p in SUITES_DIR.glob("*.json")
        if _SUITE_NAME.match(p.name[: -len(".json")])
    )


def suite_path(suite_name: str) -> Path:
    if not _SUITE_NAME.match(suite_name):
        raise ValueError(f"invalid suite name {suite_name!r}: expected '<schema>.<table>'")
    path = SUITES_DIR / f"{suite_name}.json"
    if not path.is_file():
        raise LookupError(f"no suite {suite_name!r} (looked for {path}); known: {list_suites()}")
    return path


def load_suite(suite_name: str) -> dict:
    """The suite file, checked for shape: {"description": str, "expectations": [entry, ...]}."""
    path = suite_path(suite_name)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("expectations"), list):
        raise ValueError(f"{path}: expected an object with an 'expectations' list")
    if not spec["expectations"]:
        raise ValueError(f"{path}: the suite has no expectations")
    if not isinstance(spec.get("blocking", True), bool):
        raise ValueError(
            f"{path}: 'blocking' must be true or false (default true: a failure stops downstream assets)"
        )
    allowed = {"expectation_type", "kwargs", "meta"}
    seen: dict[str, int] = {}
    for i, entry in enumerate(spec["expectations"]):
        where = f"{path}: expectations[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object")
        if extra := set(entry) - allowed:
            raise ValueError(f"{where}: unknown keys {sorted(extra)} (allowed: {sorted(allowed)})")
        if not isinstance(entry.get("expectation_type"), str) or not entry["expectation_type"]:
            raise ValueError(f"{where}: 'expectation_type' must be a non-empty string")
        if not isinstance(entry.get("kwargs"), dict):
            raise ValueError(f"{where}: 'kwargs' must be an object")
        notes = (entry.get("meta") or {}).get("notes")
        if not isinstance(notes, str) or not notes.strip():
            raise ValueError(f"{where}: 'meta.notes' must say why the check exists")
        # GE silently merges equal expectations: a repeated entry would never be evaluated twice
        key = json.dumps([entry["expectation_type"], entry["kwargs"]], sort_keys=True)
        if key in seen:
            raise ValueError(f"{where}: repeats expectations[{seen[key]}]")
        seen[key] = i
    return spec


# --------------------------------------------------------------------------------------------
# running


def _quiet_gx_environment() -> None:
    """Before GE is imported: no usage analytics. (Progress bars are turned off per context.)"""
    from mirante import config

    config.export_defaults({"GX_ANALYTICS_ENABLED": "false"})


def _column_label(kwargs: dict) -> str | None:
    """The column(s) an expectation is about; None for table-level expectations."""
    if "column" in kwargs:
        return kwargs["column"]
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    if "column_A" in kwargs and "column_B" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    return None


def _trim(value: Any) -> Any:
    if isinstance(value, list) and len(value) > _SAMPLE:
        return value[:_SAMPLE] + [f"... {len(value) - _SAMPLE} more"]
    return value


def _summarize_failure(result: Any, index: int | None) -> dict:
    """A small JSON-ready dict describing one failed ExpectationValidationResult.

    index is the position of the expectation in the suite file's `expectations` list.
    """
    doc = result.to_json_dict()
    config = doc.get("expectation_config") or {}
    kwargs = {k: _trim(v) for k, v in (config.get("kwargs") or {}).items() if k != "batch_id"}
    res = doc.get("result") or {}
    out: dict[str, Any] = {
        "expectation_type": config.get("type"),
        "column": _column_label(kwargs),
        "index": index,
        "kwargs": kwargs,
        "notes": (config.get("meta") or {}).get("notes"),
    }
    mismatched = (res.get("details") or {}).get("mismatched")
    if mismatched:  # table column set checks: report the difference, not the 200-column list
        out["missing_columns"] = mismatched.get("missing") or []
        if kwargs.get("exact_match", True):  # extra columns only matter for an exact match
            out["unexpected_columns"] = _trim(mismatched.get("unexpected") or [])
    elif "observed_value" in res:
        out["observed"] = _trim(res["observed_value"])
    for key in ("element_count", "unexpected_count", "unexpected_percent", "missing_count"):
        if key in res:
            out[key] = res[key]
    if res.get("partial_unexpected_list"):
        out["partial_unexpected"] = _trim(res["partial_unexpected_list"])
    info = doc.get("exception_info") or {}
    if isinstance(info, dict) and info.get("raised_exception"):
        out["exception"] = info.get("exception_message")
    elif isinstance(info, dict):  # GE 1.x may key exception info by metric id
        messages = {
            v.get("exception_message") or "exception"
            for v in info.values()
            if isinstance(v, dict) and v.get("raised_exception")
        }
        if messages:
            out["exception"] = "; ".join(sorted(messages))
    return out


def _close(datasource: Any) -> None:
    """Close the pooled connections of the datasource and of its execution engine (each holds its
    own SQLAlchemy engine); otherwise every run leaves idle connections until garbage collection."""
    execution_engine = getattr(datasource, "_execution_engine", None)
    if execution_engine is not None:
        execution_engine.close()
    engine = getattr(datasource, "_engine", None)
    if engine is not None:
        engine.dispose()


def run_suite(
    suite_name: str,
    url: str,
    table: str | None = None,
    schema: str | None = None,
    only: Collection[int] | None = None,
) -> SuiteResult:
    """Validate suite `suite_name` against a PostgreSQL table and summarize the outcome.

    url:    SQLAlchemy/libpq TCP URL, e.g. `postgresql://user:pw@127.0.0.1:5432/db`
    table, schema: the relation to validate; default: the suite name `<schema>.<table>`
            (override to point a suite at another table with the same columns, e.g. a copy)
    only:   validate only these entries (positions in the suite file; failures keep them)

    Raises LookupError for an unknown suite, ValueError for a malformed suite file, and
    GE's TestConnectionError when the table cannot be reached (missing, no privilege).
    """
    spec = load_suite(suite_name)
    default_schema, default_table = suite_name.split(".", 1)
    schema = schema or default_schema
    table = table or default_table

    _quiet_gx_environment()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    started = time.perf_counter()  # after the (one-off, ~3 s) import of GE

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_postgres(name="mirante_postgres", connection_string=url)
    try:
        with warnings.catch_warnings():
            # GE 1.14+ deprecates `schema_name` in favour of a schema in the connection
            # configuration, which the postgres datasource has no field for: keep it explicit.
            warnings.filterwarnings("ignore", message=".*schema_name.*", category=DeprecationWarning)
            asset = datasource.add_table_asset(name=f"{schema}.{table}", table_name=table, schema_name=schema)
        batch = asset.add_batch_definition_whole_table(name="whole_table")

        suite = gx.ExpectationSuite(name=suite_name, notes=spec.get("description"))
        entries = [(i, e) for i, e in enumerate(spec["expectations"]) if only is None or i in only]
        for _, entry in entries:
            meta = dict(entry.get("meta") or {})
            # GE upserts by "domain" by default: two table-level checks of one type (e.g. two
            # unexpected_rows_expectation queries) would replace each other; match on every kwarg
            suite.add_expectation_configuration(
                ExpectationConfiguration(
                    type=entry["expectation_type"],
                    kwargs=dict(entry["kwargs"]),
                    meta=meta,
                    notes=meta.get("notes"),
                ),
                match_type="runtime",
            )
        suite = context.suites.add(suite)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"validate {suite_name}", data=batch, suite=suite)
        )
        outcome = validation.run(
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": _SAMPLE}
        )
    finally:
        _close(datasource)

    # GE reports results grouped by metric, not in suite order: restore the file's order
    position = {e.id: i for e, (i, _) in zip(suite.expectations, entries, strict=True)}
    failed = sorted(
        (
            _summarize_failure(r, position.get(r.expectation_config.id))
            for r in outcome.results
            if not r.success
        ),
        key=lambda f: (f["index"] is None, f["index"] or 0),
    )
    statistics = dict(outcome.statistics)
    statistics["relation"] = f"{schema}.{table}"
    statistics["run_seconds"] = round(time.perf_counter() - started, 3)
    return SuiteResult(
        success=bool(outcome.success),
        evaluated=int(statistics.get("evaluated_expectations", len(outcome.results))),
        failed=failed,
        statistics=statistics,
    )
