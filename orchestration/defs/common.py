"""Rules shared by the domain modules: asset keys of dlt resources, concurrency pools, GE suites as
asset checks."""

from collections.abc import Sequence

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, asset_check
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from mirante.orchestration.resources import Warehouse

#: Dagster concurrency pool of every dbt build (limit 1: two builds collide on dbt's `__dbt_tmp`
#: relations); see mirante.orchestration.instance and docs/concurrency.md
DBT_POOL = "dbt"


#: key prefix of the assets materialized one partition at a time on request (the monthly reports,
#: defs/relatorios.py): never in the selection of a job that rebuilds the graph after a load
ON_REQUEST_PREFIX = "relatorios"


def rebuild_exclusions():
    """The assets a rebuild job leaves out (partitioned per month: asked for by partition)."""
    from dagster import AssetSelection

    return AssetSelection.key_prefixes(ON_REQUEST_PREFIX)


def rebuild_downstream(*assets):
    """What a job that loads `assets` runs: them and everything downstream, minus the assets asked
    for by partition (rebuild_exclusions), so a mart added downstream joins it by rule."""
    from dagster import AssetSelection

    return AssetSelection.assets(*assets).downstream() - rebuild_exclusions()


def dlt_pool(pipeline_name: str) -> str:
    """Dagster concurrency pool of the op that runs one dlt pipeline (limit 1: one run at a time)."""
    return f"dlt_{pipeline_name}"


class RawTranslator(DagsterDltTranslator):
    """dlt resource -> asset key [dataset, resource] = the dbt source key (one lineage graph), in
    the group of the loader's domain (the key's first part keeps the layer visible)."""

    def __init__(self, domain: str):
        super().__init__()
        self.domain = domain

    def get_asset_spec(self, data: DltResourceTranslatorData):
        spec = super().get_asset_spec(data)
        dataset = data.pipeline.dataset_name if data.pipeline else "raw"
        return spec.replace_attributes(
            key=AssetKey([dataset, data.resource.name]),
            deps=[],
            group_name=self.domain,
        )


def ge_suite_check(suite: str, asset_key: Sequence[str], role: str, blocking: bool):
    """A Great Expectations suite (expectations/suites/<suite>.json) as a Dagster asset check."""
    name = "ge_" + suite.split(".", 1)[1]

    @asset_check(
        asset=AssetKey(list(asset_key)),
        name=name,
        blocking=blocking,
        description=f"Great Expectations suite {suite} (expectations/suites/{suite}.json)",
    )
    def _check(warehouse: Warehouse) -> AssetCheckResult:
        return suite_result(suite, warehouse.url(role))

    return _check


def suite_result(suite: str, url: str) -> AssetCheckResult:
    """Run a suite as `url`'s role: its verdict and failures as an asset check result."""
    from mirante.expectations import run_suite

    result = run_suite(suite, url)
    return AssetCheckResult(
        passed=result.success,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "evaluated": result.evaluated,
            "failed": len(result.failed),
            "failures": [
                f"{f.get('expectation_type')} {f.get('column') or ''}".strip() for f in result.failed
            ][:20],
        },
    )


def suite_checks() -> list:
    """Every suite file under expectations/suites/ as an asset check, by rule: the file
    `<schema>.<table>.json` guards asset [schema, table]; it runs as the reader on `marts` and as
    the transformer on the raw schemas; it blocks downstream assets unless the suite says
    `"blocking": false`. A new suite file needs nothing else."""
    from mirante.expectations import list_suites, load_suite

    checks = []
    for suite in list_suites():
        schema, table = suite.split(".", 1)
        blocking = load_suite(suite).get("blocking", True)
        checks.append(
            ge_suite_check(
                suite, [schema, table], "reader" if schema == "marts" else "transformer", blocking=blocking
            )
        )
    return checks
