"""Great Expectations suites guarding the raw tables and the marts (`suites/<schema>.<table>.json`).

    from mirante.expectations import list_suites, run_suite
    result = run_suite("raw_snis.agua_esgoto_agregado", url)   # -> SuiteResult
    result.success, result.evaluated, result.failed, result.statistics

Importing this package is cheap: Great Expectations is imported only when a suite runs.
"""

from .runner import SUITES_DIR, SuiteResult, list_suites, load_suite, run_suite

__all__ = ["SUITES_DIR", "SuiteResult", "list_suites", "load_suite", "run_suite"]
