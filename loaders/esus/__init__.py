"""e-SUS APS PEC: one municipal PostgreSQL database per municipality -> shared raw_esus tables.

`extract.extract()` reads one municipality's tables into Arrow (facts after their cursor, or a day
range; dimensions whole), every row tagged with `id_municipio`. `esus_source(extracted)` is the dlt
source that loads the Arrow tables of one or many municipalities at once: one resource per PEC table,
merged on (sequence key, id_municipio), so all municipalities share one table per PEC table and a
rerun never duplicates. `pull.pull()` / `pull.pull_many()` run it with retries and the run log.
"""

from __future__ import annotations

import dlt
import pyarrow as pa

from .settings import DATASET, TABLES, primary_key

__all__ = ["esus_source", "DATASET", "TABLES"]

#: new tables and columns are accepted; a column changing type is not. dlt checks it within one load
#: (each load starts from a fresh local schema, see pull._load); across loads the columns are the ones
#: listed in settings, typed from the source's catalogue on every pull (extract.source_schemas)
SCHEMA_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}


@dlt.source(name="esus", max_table_nesting=0)
def esus_source(extracted: dict[str, list[pa.Table]], append: frozenset[str] = frozenset()):
    """One resource per PEC table holding the extracted rows of every municipality given, merged
    on (key, id_municipio); the tables in `append` (facts read after their cursor, rows that cannot
    be in raw_esus yet) are appended instead, skipping the merge's staging copy: the unique index on
    (id_municipio, key) of every raw_esus table (pull.ensure_indexes) turns any overlap into a
    failed load, never a duplicate. Tables without rows are left out (an empty parquet file is
    rejected by the ADBC load)."""
    for table, parts in extracted.items():
        parts = [p for p in parts if p.num_rows]
        if not parts:
            continue
        # one Arrow table per PEC table: dlt writes one file per table instead of one per municipality
        yield dlt.resource(
            pa.concat_tables(parts, promote_options="permissive"), name=table, primary_key=[primary_key(table), "id_municipio"],
            write_disposition="append" if table in append else "merge", schema_contract=SCHEMA_CONTRACT,
            columns={"id_municipio": {"data_type": "text", "nullable": False}},
        )
