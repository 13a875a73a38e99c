"""SNIS water and sewage 'agregado' exports -> Postgres schema raw_snis.

Resources (= raw tables = dbt source tables):
    agua_esgoto_agregado  one row per (ano_referencia, codigo_prestador), all 229 export columns
                          plus _file_name and _line_number; merged on the key, so reloading a file or
                          loading a sample that overlaps a full export creates no duplicates
    quarentena            malformed rows: file, line, column, raw value, reason, raw line
    reconciliacao         per file and numeric column: footer total vs sum of the loaded rows
    arquivos              one row per file: checksum, year, rows, quarantined rows, schema drift

Every file is parsed completely before anything of it is yielded; a file that cannot be parsed
raises SnisFormatError and the run loads nothing.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import dlt
import pyarrow as pa

from .parser import ParsedExport, SnisFormatError, parse_export
from .settings import DATASET, DECIMAL_TYPE, LOADER_FILE_FORMAT, PENDING_PACKAGES, PRIMARY_KEY

__all__ = ["snis_source", "load_snis", "list_exports", "SnisFormatError", "DATASET", "LOADER_FILE_FORMAT"]

_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
#: one description per small table: the Arrow schema (dlt takes types and nullability from it)
_QUARANTINE_SCHEMA = pa.schema([
    pa.field("arquivo", pa.string(), nullable=False), pa.field("linha", pa.int64(), nullable=False),
    pa.field("coluna", pa.string(), nullable=False), pa.field("valor_bruto", pa.string()),
    pa.field("motivo", pa.string(), nullable=False), pa.field("linha_bruta", pa.string(), nullable=False),
])
_RECONCILIATION_SCHEMA = pa.schema([
    ("arquivo", pa.string()), ("ano", pa.int64()), ("coluna", pa.string()),
    ("valor_rodape", DECIMAL_TYPE), ("soma_carregada", DECIMAL_TYPE), ("diferenca", DECIMAL_TYPE),
    ("linhas_carregadas", pa.int64()), ("linhas_quarentena", pa.int64()), ("status", pa.string()),
])
_REPLACE_PER_FILE = {"disposition": "merge", "strategy": "delete-insert"}


def list_exports(directory: str | Path) -> list[Path]:
    """Every *.csv export in a folder, in name order."""
    return sorted(p for p in Path(directory).glob("*.csv") if p.is_file())


@dlt.source(name="snis", max_table_nesting=0)
def snis_source(directory: str = dlt.config.value, files: list[str] | None = None):
    """SNIS exports of a folder (or only `files`, names or paths inside it)."""
    cache: dict[Path, ParsedExport] = {}

    def parsed() -> Iterator[ParsedExport]:
        for p in _select(directory, files):  # listed at extract time, not when the source is built
            if p not in cache:
                cache[p] = parse_export(p)
            yield cache[p]

    # parse every file before yielding rows: a broken file fails the run before anything loads
    def all_parsed() -> list[ParsedExport]:
        return list(parsed())

    # a key repeated by two files of one run (a sample and its full export): the last file in name
    # order wins, as it would when the files are loaded one run after the other
    @dlt.resource(name="agua_esgoto_agregado", primary_key=PRIMARY_KEY, write_disposition="merge",
                  schema_contract=_CONTRACT, columns={"_file_name": {"dedup_sort": "desc"}})
    def agua_esgoto_agregado():
        for export in all_parsed():
            while export.chunks:  # hand each chunk over once, releasing its memory
                yield export.chunks.pop(0)

    @dlt.resource(name="quarentena", primary_key=("arquivo", "linha", "coluna"), merge_key="arquivo",
                  write_disposition=_REPLACE_PER_FILE, schema_contract=_CONTRACT)
    def quarentena():
        for export in all_parsed():
            if export.quarantine:
                yield _arrow([dict(dataclasses.asdict(q), coluna=q.coluna or "") for q in export.quarantine],
                             _QUARANTINE_SCHEMA)

    @dlt.resource(name="reconciliacao", primary_key=("arquivo", "coluna"), merge_key="arquivo",
                  write_disposition=_REPLACE_PER_FILE, schema_contract=_CONTRACT)
    def reconciliacao():
        for export in all_parsed():
            yield _arrow(export.reconciliation(), _RECONCILIATION_SCHEMA)

    @dlt.resource(name="arquivos", primary_key="arquivo", write_disposition="merge",
                  schema_contract=_CONTRACT)
    def arquivos():
        now = datetime.now(timezone.utc)
        for export in all_parsed():
            yield _arrow([{
                "arquivo": export.name,
                "sha256": export.sha256,
                "codificacao": export.encoding,
                "ano": export.ano,
                "linhas_lidas": export.lines_read,
                "linhas_carregadas": export.rows_loaded,
                "linhas_quarentena": len({q.linha for q in export.quarantine}),
                "colunas_novas": ",".join(export.new_columns),
                "colunas_ausentes": ",".join(export.missing_columns),
                "carregado_em": now,
            }])

    return agua_esgoto_agregado, quarentena, reconciliacao, arquivos


def load_snis(directory: str | Path, files: list[str] | None = None, srv=None, pipeline_name: str = "snis"):
    """Load SNIS exports into raw_snis as mirante_loader (what the Dagster asset runs, without
    Dagster): the packages of a killed run first (`settle_pending`), then the files. Returns dlt's
    LoadInfo."""
    from mirante.pipelines import make_pipeline, settle_pending

    pipeline = settle_pending(make_pipeline(pipeline_name, DATASET, srv), PENDING_PACKAGES)
    return pipeline.run(snis_source(directory=str(directory), files=files), loader_file_format=LOADER_FILE_FORMAT)


def _arrow(rows: list[dict], schema: pa.Schema | None = None) -> pa.Table:
    """Small tables go as Arrow too: one write path, and dlt counts rows (not values) right."""
    return pa.Table.from_pylist(rows, schema=schema)


def _select(directory: str | Path, files: Iterable[str] | None) -> list[Path]:
    directory = Path(directory)
    if not files:
        found = list_exports(directory)
        if not found:
            raise FileNotFoundError(f"no SNIS export (*.csv) in {directory}")
        return found
    out = []
    for f in files:
        p = Path(f) if Path(f).is_absolute() else directory / f
        if not p.is_file():
            raise FileNotFoundError(f"SNIS export {p} does not exist")
        out.append(p)
    return out
