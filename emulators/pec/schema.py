"""The emulated PEC schema: every table's columns (parsed from the specs in data.py), the load
order, and the DDL the template database is created with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mirante.emulators.pec import data as D


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # PostgreSQL type as declared ("bigint", "varchar(92)", "timestamp", ...)
    pk: bool = False


def parse_columns(spec: str) -> list[Column]:
    """Columns of a "name type[ PK|(FK)], ..." spec (docs/pec-schema.md, "Column spec format")."""
    cols = []
    for part in spec.split(","):
        name, kind = part.strip().split(" ", 1)
        pk = kind.endswith(" PK")
        kind = kind.removesuffix(" PK").removesuffix("(FK)").strip()
        cols.append(Column(name, kind, pk))
    return cols


#: every emulated table -> its columns in order (the documented ones, then the extra dimensions)
TABLES: dict[str, list[Column]] = {
    name: parse_columns(spec) for name, spec in {**D.SCHEMA_COLUMNS, **D.EXTRA_DIMENSIONS}.items()
}
COLUMN_NAMES: dict[str, tuple[str, ...]] = {t: tuple(c.name for c in cols) for t, cols in TABLES.items()}
_COLUMN_SETS = {t: frozenset(cols) for t, cols in COLUMN_NAMES.items()}
_FLAG_COLUMNS = {t: tuple(c for c in cols if c.startswith("st_")) for t, cols in COLUMN_NAMES.items()}
FACT_TABLES = D.FACT_TABLES
#: dimension tables first, then facts (the order of COPY and of the returned counts)
LOAD_ORDER = tuple(t for t in TABLES if t not in FACT_TABLES) + FACT_TABLES


def _pk(table: str) -> str:
    return next(c.name for c in TABLES[table] if c.pk)


def ddl() -> str:
    """The DDL of the PEC schema (tables in `public`, one sequence per fact table)."""
    out = ["revoke create on schema public from public;"]
    for table, cols in TABLES.items():
        lines = [f"    {c.name} {c.type}{' not null' if c.pk else ''}" for c in cols]
        lines.append(f"    constraint pk_{table} primary key ({_pk(table)})")
        out.append(f"create table {table} (\n" + ",\n".join(lines) + "\n);")
    for table in FACT_TABLES:
        seq, pk = f"seq_{table}", _pk(table)
        out.append(f"create sequence {seq} owned by {table}.{pk};")
        out.append(f"alter table {table} alter column {pk} set default nextval('{seq}');")
    return "\n".join(out) + "\n"


def _ddl_version() -> str:
    return hashlib.sha1(ddl().encode()).hexdigest()[:12]
