"""e-SUS APS PEC: one municipal PostgreSQL database per municipality -> shared raw_esus tables.

`esus_source(id_municipio, url)` is a dlt source reading one municipality's PEC database: fact
tables incrementally on their sequence key, dimensions whole; every row gets `id_municipio` and is
merged on (sequence key, id_municipio), so all municipalities share one table per PEC table and a
rerun never duplicates. `pull()` (in `pull.py`) runs it with retries and writes the run log.
"""

from __future__ import annotations

from datetime import date

import dlt
import pyarrow as pa
from dlt.sources.sql_database import sql_table

from .settings import BACKEND, DATASET, FACTS, TABLES, primary_key

__all__ = ["esus_source", "DATASET", "TABLES"]

_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}


def _tag(id_municipio: str):
    def add(table: pa.Table) -> pa.Table:
        return table.append_column("id_municipio", pa.array([id_municipio] * table.num_rows, pa.string()))

    return add


def _day_key(d: date) -> int:
    """co_dim_tempo of a day: the PEC keys its time dimension as yyyymmdd."""
    return d.year * 10000 + d.month * 100 + d.day


@dlt.source(name="esus", max_table_nesting=0)
def esus_source(id_municipio: str, url: str, tables: list[str] | None = None,
                desde: date | None = None, ate: date | None = None):
    """One municipality's PEC tables. With `desde`/`ate` the facts of that day range are pulled again
    (a backfill: no cursor is used or moved); otherwise facts are incremental on their sequence."""
    backfill = desde is not None or ate is not None
    for table in tables or list(TABLES):
        columns = TABLES[table]
        pk = primary_key(table)
        incremental = None
        query_adapter = None
        if table in FACTS and not backfill:
            incremental = dlt.sources.incremental(pk, initial_value=0)
        elif table in FACTS and "co_dim_tempo" in columns:
            lo = _day_key(desde or date(1900, 1, 1))
            hi = _day_key(ate or date(2999, 12, 31))

            def query_adapter(query, tbl, *_args, lo=lo, hi=hi):
                return query.where(tbl.c.co_dim_tempo.between(lo, hi))
        resource = sql_table(
            credentials=url, table=table, backend=BACKEND, included_columns=columns,
            incremental=incremental, reflection_level="full", query_adapter_callback=query_adapter,
            backend_kwargs={"protocol": "binary"} if BACKEND == "connectorx" else None,
        )
        resource.apply_hints(primary_key=[pk, "id_municipio"], write_disposition="merge",
                             schema_contract=_CONTRACT,
                             columns={"id_municipio": {"data_type": "text", "nullable": False}})
        # an empty page becomes a 0-row parquet file that the ADBC load rejects
        resource.add_filter(lambda t: t.num_rows > 0)
        resource.add_map(_tag(id_municipio))
        yield resource

