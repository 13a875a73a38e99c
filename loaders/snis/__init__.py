"""SNIS water and sewage 'agregado' exports -> Postgres schema raw_snis.

Resources (= raw tables = dbt source tables):
    agua_esgoto_agregado  one row per (ano_referencia, codigo_prestador), all 229 export columns
                          plus _file_name and _line_number; merged on the key, so reloading a file or
                          loading a sample that overlaps a full export creates no duplicates
    quarentena            malformed rows: file, line, column, raw value, reason, raw line
    reconciliacao         per file and numeric column: footer total vs sum of the loaded rows
    arquivos              one row per file: checksum, year, rows, quarantined rows, schema drift

Files are streamed (bounded memory whatever their size): every file of the run is first checked as
a whole file (encoding, header, footer at its end, year) before any row is read, then read once, in
Arrow batches of CHUNK_LINES lines, while quarantine, column sums and checksum accumulate. The three
small tables are yielded after a file's last batch (their resources wait for the rows resource).
A file that cannot be parsed raises SnisFormatError, before any row when the whole-file checks find
it, on the way when the bytes stop decoding: either way dlt never commits the run's extract package,
so nothing of the run reaches raw (all or nothing per file and per run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import dlt
import pyarrow as pa

from mirante.loaders import DltLoader
from mirante.pipelines import SCHEMA_CONTRACT

from .parser import ExportStream, ParsedExport, SnisFormatError, open_export
from .settings import (
    CHUNK_LINES,
    DATASET,
    DECIMAL_TYPE,
    DOMAIN,
    LOADER_FILE_FORMAT,
    PENDING_PACKAGES,
    PIPELINE_NAME,
    PRIMARY_KEY,
    read_settings,
)

__all__ = [
    "snis_source",
    "read_settings",
    "LOADER",
    "list_exports",
    "SnisFormatError",
    "DATASET",
    "PIPELINE_NAME",
    "DOMAIN",
    "LOADER_FILE_FORMAT",
]

#: one description per small table: the Arrow schema (dlt takes types and nullability from it)
_QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("arquivo", pa.string(), nullable=False),
        pa.field("linha", pa.int64(), nullable=False),
        pa.field("coluna", pa.string(), nullable=False),
        pa.field("valor_bruto", pa.string()),
        pa.field("motivo", pa.string(), nullable=False),
        pa.field("linha_bruta", pa.string(), nullable=False),
    ]
)
_RECONCILIATION_SCHEMA = pa.schema(
    [
        ("arquivo", pa.string()),
        ("ano", pa.int64()),
        ("coluna", pa.string()),
        ("valor_rodape", DECIMAL_TYPE),
        ("soma_carregada", DECIMAL_TYPE),
        ("diferenca", DECIMAL_TYPE),
        ("linhas_carregadas", pa.int64()),
        ("linhas_quarentena", pa.int64()),
        ("status", pa.string()),
    ]
)
_REPLACE_PER_FILE = {"disposition": "merge", "strategy": "delete-insert"}


def list_exports(directory: str | Path) -> list[Path]:
    """Every *.csv export in a folder, in name order."""
    return sorted(p for p in Path(directory).glob("*.csv") if p.is_file())


@dlt.source(name="snis", max_table_nesting=0)
def snis_source(
    directory: str = dlt.config.value, files: list[str] | None = None, chunk_lines: int = CHUNK_LINES
):
    """SNIS exports of a folder (or only `files`, names or paths inside it), read `chunk_lines`
    lines at a time."""
    streams: dict[Path, ExportStream] = {}
    rows_resource: dict[str, bool] = {}  # "selected" once its generator exists, "done" once it ended

    def opened() -> list[ExportStream]:
        # listed at extract time, not when the source is built; every file checked as a whole file
        # (header, footer, year) before any row of any file is read
        paths = _select(directory, files)
        for p in paths:
            if p not in streams:
                streams[p] = open_export(p, chunk_lines)
        return [streams[p] for p in paths]

    def summaries() -> Iterator[ParsedExport | None]:
        """Each file's quarantine, sums and checksum once its rows have all been read. While the rows
        resource streams it, yield None: dlt's extract goes on with the other resources (round
        robin) and comes back. Without the rows resource (not selected), read the file through."""
        for stream in opened():
            while rows_resource.get("selected") and not rows_resource.get("done") and not stream.complete:
                yield None
            if not stream.complete:
                for _ in stream.batches():
                    pass
            yield stream.summary

    # a key repeated by two files of one run (a sample and its full export): the last file in name
    # order wins, as it would when the files are loaded one run after the other
    @dlt.resource(
        name="agua_esgoto_agregado",
        primary_key=PRIMARY_KEY,
        write_disposition="merge",
        schema_contract=SCHEMA_CONTRACT,
        columns={"_file_name": {"dedup_sort": "desc"}},
    )
    def agua_esgoto_agregado():
        # a plain function: dlt calls it for every selected resource before reading any of them,
        # so the small resources know they must wait for these rows
        rows_resource["selected"] = True

        def rows() -> Iterator[pa.Table]:
            try:
                for stream in opened():
                    yield from stream.batches()  # each batch handed over once, then released
            finally:
                rows_resource["done"] = True

        return rows()

    @dlt.resource(
        name="quarentena",
        primary_key=("arquivo", "linha", "coluna"),
        merge_key="arquivo",
        write_disposition=_REPLACE_PER_FILE,
        schema_contract=SCHEMA_CONTRACT,
    )
    def quarentena():
        for export in summaries():
            if export is None:
                yield None
            elif export.quarantine:
                yield _arrow(
                    [dict(dataclasses.asdict(q), coluna=q.coluna or "") for q in export.quarantine],
                    _QUARANTINE_SCHEMA,
                )

    @dlt.resource(
        name="reconciliacao",
        primary_key=("arquivo", "coluna"),
        merge_key="arquivo",
        write_disposition=_REPLACE_PER_FILE,
        schema_contract=SCHEMA_CONTRACT,
    )
    def reconciliacao():
        for export in summaries():
            yield None if export is None else _arrow(export.reconciliation(), _RECONCILIATION_SCHEMA)

    @dlt.resource(
        name="arquivos", primary_key="arquivo", write_disposition="merge", schema_contract=SCHEMA_CONTRACT
    )
    def arquivos():
        now = datetime.now(UTC)
        for export in summaries():
            if export is None:
                yield None
                continue
            yield _arrow(
                [
                    {
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
                    }
                ]
            )

    return agua_esgoto_agregado, quarentena, reconciliacao, arquivos


LOADER = DltLoader(
    name=PIPELINE_NAME,
    dataset=DATASET,
    domain=DOMAIN,
    source=snis_source,
    read_settings=read_settings,
    placeholder={"directory": "."},
    pending_packages=PENDING_PACKAGES,
    loader_file_format=LOADER_FILE_FORMAT,
    description="SNIS 'agregado' exports (CSV files) with quarantine, footer reconciliation and drift",
    origins=lambda settings, kwargs: [
        p.resolve().as_uri() for p in _select(settings.directory, kwargs.get("files"))
    ],
)


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
