"""e-SUS APS PEC: one municipal PostgreSQL database per municipality -> shared raw_esus tables.

    extract.py   one municipality's changes, read in one snapshot, as CSV (no parsing)
    publish.py   a batch of municipalities written in ONE transaction with its cursors and run log
    pull.py      batches, per-municipality budgets, retries, locks: `pull()` / `pull_many()`
    raw.py       raw tables typed like the sources, the cursor table, the drift check
    runlog.py    raw_esus.execucoes, closed as `interrompido` when a run died
    failures.py  error kind and short code (what marts and the API may show)
    registry.py  which PEC databases to pull (municipios.toml)

Why not dlt here: a batch must become visible all at once with the cursors that describe it, and a
dlt load commits each load file on its own (a run killed between two files left a gap behind a
cursor that had moved). See the README, "Primary care".
"""

from .settings import DATASET, DIMENSIONS, DOMAIN, FACTS, PIPELINE_NAME, TABLES, EsusSettings, read_settings

__all__ = [
    "DATASET",
    "PIPELINE_NAME",
    "DOMAIN",
    "read_settings",
    "EsusSettings",
    "TABLES",
    "FACTS",
    "DIMENSIONS",
]
