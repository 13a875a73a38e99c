"""Project conventions checked by dbt-score on the manifest (no database): naming by layer, tests,
mart contracts and lineage, source freshness. Descriptions are dbt-score's own `has_description`
and `columns_have_description`.

Every rule returns a violation or None; pyproject.toml sets `fail_any_item_under = 10.0`, so a
single violation anywhere fails `make lint`."""

import re
from pathlib import PurePosixPath

from dbt_score import Model, RuleViolation, Severity, Source, rule

#: meta key of a mart whose name predates the fct_/dim_/agg_ prefixes: the data API serves marts by
#: name under /v1, so such a mart is renamed only together with a new versioned API path
API_V1_NAME = "api_v1_name"
MART_NAME = re.compile(r"(fct|dim|agg)_[a-z0-9]+(_[a-z0-9]+)*")
LAYERS = ("staging", "intermediate", "marts")


def _layer_and_folder(model: Model) -> tuple[str | None, str | None]:
    """(layer, domain or source folder) from the path under models/, e.g. ('staging', 'esus')."""
    parts = PurePosixPath(model.original_file_path).parts
    if len(parts) < 3 or parts[0] != "models" or parts[1] not in LAYERS:
        return None, None
    return parts[1], parts[2] if len(parts) > 3 else None


def _is_mart(model: Model) -> bool:
    return _layer_and_folder(model)[0] == "marts"


@rule(severity=Severity.CRITICAL)
def model_name_follows_layer(model: Model) -> RuleViolation | None:
    """Names by layer: staging/<source>/stg_<source>__<entity>, intermediate/<domain>/
    int_<domain>__<purpose>, marts fct_/dim_/agg_ (or an old /v1 name marked meta api_v1_name)."""
    layer, folder = _layer_and_folder(model)
    if layer is None or folder is None:
        return RuleViolation(f"{model.original_file_path}: not under models/<layer>/<folder>/ ({LAYERS}).")
    if layer in ("staging", "intermediate"):
        prefix = "stg" if layer == "staging" else "int"
        if not re.fullmatch(rf"{prefix}_{re.escape(folder)}__[a-z0-9]+(_[a-z0-9]+)*", model.name):
            return RuleViolation(f"{layer} model {model.name}: expected {prefix}_{folder}__<name>.")
        return None
    exempt = model.meta.get(API_V1_NAME) is True
    if MART_NAME.fullmatch(model.name):
        if exempt:
            return RuleViolation(f"mart {model.name} follows the prefixes: drop meta {API_V1_NAME}.")
        return None
    if not exempt:
        return RuleViolation(
            f"mart {model.name}: expected a fct_/dim_/agg_ prefix (an existing /v1 name is kept only "
            f"with meta {API_V1_NAME}: true)."
        )
    return None


@rule(severity=Severity.CRITICAL)
def model_has_data_test(model: Model) -> RuleViolation | None:
    """A model has at least one data test (on the model or on a column; unit tests do not count)."""
    if not model.tests and not any(column.tests for column in model.columns):
        return RuleViolation("Model has no data test.")


@rule(severity=Severity.CRITICAL)
def mart_enforces_contract(model: Model) -> RuleViolation | None:
    """A mart enforces its contract (`contract: {enforced: true}`): the API serves its columns."""
    if _is_mart(model) and not (model.config.get("contract") or {}).get("enforced"):
        return RuleViolation("Mart does not enforce a contract.")


@rule(severity=Severity.CRITICAL)
def mart_selects_no_source(model: Model) -> RuleViolation | None:
    """A mart never selects from a source(): raw data reaches it through staging."""
    if _is_mart(model):
        sources = [n for n in model.depends_on.get("nodes", []) if n.startswith("source.")]
        if sources:
            return RuleViolation(f"Mart selects from sources: {', '.join(sources)}.")


@rule(severity=Severity.CRITICAL)
def source_has_freshness(source: Source) -> RuleViolation | None:
    """A source table declares freshness: warn_after and error_after, and loaded_at_field or
    loaded_at_query."""
    freshness = source.freshness or {}
    bounds = [freshness.get(k) or {} for k in ("warn_after", "error_after")]
    if not all(b.get("count") and b.get("period") for b in bounds):
        return RuleViolation("Source table lacks freshness (warn_after and error_after).")
    raw = source._raw_values
    if not (raw.get("loaded_at_field") or raw.get("loaded_at_query")):
        return RuleViolation("Source table has freshness but no loaded_at_field or loaded_at_query.")
