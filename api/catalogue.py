"""The catalogue: the marts the api role sees in schema marts (columns, primary key, the filters each
offers) and their descriptions from the dbt manifest or the relation comments.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from mirante import config

FILTERS = ("id_municipio", "sigla_uf", "ano", "mes", "data_inicio", "data_fim")
MANIFEST = config.ROOT / "dbt_project" / "target" / "manifest.json"

_NUMERIC = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}
_INTEGER = {"smallint", "integer", "bigint"}
_DATES = {"date", "timestamp without time zone", "timestamp with time zone"}
_TEXT = {"text", "character varying", "character"}
_UNORDERABLE = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}
#: relations dbt creates for a moment while it rebuilds a model
_DBT_TEMP = re.compile(r"__dbt_(tmp|backup)")
_ROUTABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # information_schema data_type
    nullable: bool
    description: str = ""


@dataclass(frozen=True)
class Mart:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # primary key columns in column order ((): none)
    description: str = ""
    domain: str = "marts"

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def date_column(self) -> Column | None:
        dates = [c for c in self.columns if c.type in _DATES]
        return next((c for c in dates if c.name.startswith("data")), dates[0] if dates else None)

    @property
    def filters(self) -> tuple[str, ...]:
        has = {c.name for c in self.columns}
        dated = self.date_column is not None
        ok = {
            "id_municipio": "id_municipio" in has,
            "sigla_uf": "sigla_uf" in has,
            "ano": "ano" in has or dated,
            "mes": "mes" in has or dated,
            "data_inicio": dated,
            "data_fim": dated,
        }
        return tuple(f for f in FILTERS if ok[f])

    @property
    def order_by(self) -> tuple[str, ...]:
        return self.key or tuple(c.name for c in self.columns if c.type not in _UNORDERABLE)

    def signature(self) -> tuple:
        return (self.name, tuple((c.name, c.type) for c in self.columns), self.key)


def _manifest_docs(path: Path = MANIFEST) -> dict[str, dict]:
    """{relation name: {"description", "domain", "columns": {name: description}}} of the dbt models
    in schema marts, from the manifest (empty when there is none or it cannot be read)."""
    try:
        nodes = json.loads(path.read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    docs = {}
    for node in nodes.values():
        if node.get("resource_type") != "model" or node.get("schema") != config.MARTS_SCHEMA:
            continue
        fqn = node.get("fqn") or []
        docs[node.get("alias") or node["name"]] = {
            "description": " ".join((node.get("description") or "").split()),
            "domain": fqn[2] if len(fqn) > 3 and fqn[1] == "marts" else "marts",
            "columns": {
                k: " ".join((v.get("description") or "").split())
                for k, v in (node.get("columns") or {}).items()
            },
        }
    return docs


def read_catalogue(conn: psycopg.Connection, manifest: Path = MANIFEST) -> dict[str, Mart]:
    """Every relation of schema marts the connection's role may read, with its columns, primary key
    and descriptions (dbt manifest first, else the comments dbt persists on the relations)."""
    schema = config.MARTS_SCHEMA
    rows = conn.execute(
        """select c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES',
                  col_description(to_regclass(format('%%I.%%I', c.table_schema, c.table_name)),
                                  c.ordinal_position::int)
           from information_schema.columns c
           where c.table_schema = %s order by c.table_name, c.ordinal_position""",
        (schema,),
    ).fetchall()
    keys = dict(
        conn.execute(
            """select t.relname, array_agg(a.attname::text order by a.attnum)
           from pg_index i join pg_class t on t.oid = i.indrelid
           join pg_namespace n on n.oid = t.relnamespace
           join pg_attribute a on a.attrelid = t.oid and a.attnum = any(i.indkey)
           where n.nspname = %s and i.indisprimary group by t.relname""",
            (schema,),
        ).fetchall()
    )
    comments = dict(
        conn.execute(
            """select t.relname, obj_description(t.oid, 'pg_class') from pg_class t
           join pg_namespace n on n.oid = t.relnamespace where n.nspname = %s""",
            (schema,),
        ).fetchall()
    )
    docs = _manifest_docs(manifest)
    columns: dict[str, list[Column]] = {}
    for table, name, data_type, nullable, comment in rows:
        if _DBT_TEMP.search(table) or not _ROUTABLE.match(table) or table == "marts":
            continue
        described = docs.get(table, {}).get("columns", {}).get(name) or " ".join((comment or "").split())
        columns.setdefault(table, []).append(Column(name, data_type, nullable, described))
    marts = {}
    for table, cols in columns.items():
        doc = docs.get(table, {})
        marts[table] = Mart(
            name=table,
            columns=tuple(cols),
            key=tuple(keys.get(table) or ()),
            description=doc.get("description") or " ".join((comments.get(table) or "").split()),
            domain=doc.get("domain", "marts"),
        )
    return marts
