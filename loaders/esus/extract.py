"""Read one municipality's PEC tables into Arrow: one connection, one `COPY (SELECT ...) TO STDOUT`
per table, parsed by pyarrow's CSV reader with the types the source declares.

This is the raw-pipe path itself (the bench's baseline reads the same way), so extraction costs
what the wire costs. dlt's `sql_table` was measured slower on this workload: it reflects every
table through SQLAlchemy on every run (about 0.1 s per table, 12 tables per municipality), and its
connectorx backend retries a refused connection for 30 s inside its pool before it reports, which
turns a municipality that is down into a stall.
"""

from __future__ import annotations

import io
from datetime import date

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from .settings import FACTS, TABLES, primary_key

#: PostgreSQL type OID -> Arrow type of the columns the PEC tables use
_ARROW_TYPES = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 25: pa.string(),
    700: pa.float32(), 701: pa.float64(), 1042: pa.string(), 1043: pa.string(),
    1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
}

#: seconds to wait for a source to accept a connection before the attempt counts as failed
CONNECT_TIMEOUT = 10


def day_key(d: date) -> int:
    """co_dim_tempo of a day: the PEC keys its time dimension as yyyymmdd."""
    return d.year * 10000 + d.month * 100 + d.day


def query(table: str, cursor: int | None, desde: date | None, ate: date | None) -> str:
    """SELECT of one table: facts after their cursor (incremental) or in a day range (backfill);
    dimensions whole."""
    columns = TABLES[table]
    sql = f"select {', '.join(columns)} from {table}"
    if table in FACTS:
        if desde is not None or ate is not None:
            if "co_dim_tempo" in columns:
                lo, hi = day_key(desde or date(1900, 1, 1)), day_key(ate or date(2999, 12, 31))
                sql += f" where co_dim_tempo between {lo} and {hi}"
        elif cursor is not None:
            sql += f" where {primary_key(table)} > {int(cursor)}"
    return sql


def source_schemas(conn: psycopg.Connection, tables: list[str]) -> dict[str, pa.Schema]:
    """Arrow schema of the selected columns of each table, from the source's catalogue in one
    query: a table or column missing from the source (a PEC version without it) fails here, by name."""
    found: dict[str, dict[str, int]] = {}
    for table, column, oid in conn.execute(
            """select c.relname, a.attname, a.atttypid::int from pg_attribute a
               join pg_class c on c.oid = a.attrelid
               where c.relnamespace = 'public'::regnamespace and c.relname = any(%s)
                 and a.attnum > 0 and not a.attisdropped""", (tables,)):
        found.setdefault(table, {})[column] = oid
    out = {}
    for table in tables:
        if table not in found:
            raise LookupError(f'relation "{table}" does not exist in the source database')
        fields = []
        for column in TABLES[table]:
            oid = found[table].get(column)
            if oid is None:
                raise LookupError(f'column "{column}" of relation "{table}" does not exist in the source database')
            arrow_type = _ARROW_TYPES.get(oid)
            if arrow_type is None:
                raise TypeError(f"{table}.{column}: PostgreSQL type oid {oid} has no Arrow mapping")
            fields.append(pa.field(column, arrow_type, nullable=column != primary_key(table)))
        out[table] = pa.schema(fields)
    return out


def read_table(conn: psycopg.Connection, sql: str, schema: pa.Schema) -> pa.Table:
    """The rows of `sql` (selecting the columns of `schema`) as an Arrow table of that schema."""
    buf = io.BytesIO()
    with conn.cursor().copy(f"copy ({sql}) to stdout with (format csv, header true)") as copy:
        for block in copy:
            buf.write(block)
    if buf.tell() <= len(",".join(schema.names)) + 1:  # header only
        return schema.empty_table()
    buf.seek(0)
    return pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False),
    ).select(schema.names).cast(schema)


def extract(url: str, id_municipio: str, tables: list[str], cursors: dict[str, int | None],
            desde: date | None = None, ate: date | None = None) -> dict[str, pa.Table]:
    """Every table of one municipality, read in one read-only snapshot, tagged with id_municipio."""
    out: dict[str, pa.Table] = {}
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, application_name="mirante-esus") as conn:
        # one snapshot: a fact and the dimensions it references are read at the same instant
        conn.execute("set transaction isolation level repeatable read, read only")
        schemas = source_schemas(conn, tables)
        for table in tables:
            data = read_table(conn, query(table, cursors.get(table), desde, ate), schemas[table])
            out[table] = data.append_column(
                pa.field("id_municipio", pa.string(), nullable=False),
                pa.array([id_municipio] * data.num_rows, pa.string()))
    return out
