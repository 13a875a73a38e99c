"""Finance history files -> Postgres schema raw_arquivos_financeiros (domain `financas`).

A watched folder (MIRANTE_ARQUIVOS_FINANCEIROS_DIR) of bank statements as Brazilian banks export
them (*.csv: Latin-1, ';', decimal comma) and past invoices (*.json arrays), read like the SNIS
exports (loaders/snis): a checksum per file, malformed rows quarantined with a reason, the rest
loaded (parser.py).

Resources (= raw tables = dbt source tables):
    extratos    one row per statement line: (arquivo, linha), bank, branch, account, date,
                description, document, amount, balance
    faturas     one row per invoice of a file: (arquivo, linha = position in the array), number,
                customer, issue and due dates, amount, status, payment date
    quarentena  malformed rows: file, line, reason code, detail, raw text
    arquivos    one row per file: name, kind, sha256, size, rows read, loaded and quarantined

Every table is replaced per file (merge key `arquivo`, delete-insert): loading the same file
twice adds nothing and a file replaced under the same name replaces its rows. Each run sends, per
file and table, one marker row (linha -1, `_substituir` true: dlt's `hard_delete` hint) that is
never inserted but deletes the file's old rows, so a new version with no row left in a table
(e.g. no malformed line any more) leaves none of the old ones behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import dlt

from mirante.loaders import DltLoader
from mirante.pipelines import SCHEMA_CONTRACT

from .parser import ParsedFile, kind_of, parse_file
from .settings import (
    DATASET,
    DOMAIN,
    INVOICE_KEY,
    PENDING_PACKAGES,
    PIPELINE_NAME,
    STATEMENT_KEY,
    read_settings,
)

__all__ = [
    "arquivos_financeiros_source",
    "list_files",
    "read_settings",
    "LOADER",
    "DATASET",
    "PIPELINE_NAME",
    "DOMAIN",
]

_PER_FILE = {"disposition": "merge", "strategy": "delete-insert"}
#: the marker row's column (dlt `hard_delete`): null in every row that lands in raw
_MARKER = "_substituir"


def _marker_column() -> dict:
    return {_MARKER: {"data_type": "bool", "hard_delete": True, "nullable": True}}


# a new dict per column: dlt writes the column's name into the hint it is given
def _text(nullable: bool = True) -> dict:
    return {"data_type": "text", "nullable": nullable}


def _money() -> dict:
    """Reais, exact: numeric(18, 2)."""
    return {"data_type": "decimal", "precision": 18, "scale": 2}


_STATEMENT_COLUMNS = {
    "arquivo": _text(False),
    "linha": {"data_type": "bigint", "nullable": False},
    "banco": _text(),
    "agencia": _text(),
    "conta": _text(),
    "data": {"data_type": "date"},
    "historico": _text(),
    "documento": _text(),
    "valor": _money(),
    "saldo": _money(),
    **_marker_column(),
}
_INVOICE_COLUMNS = {
    "arquivo": _text(False),
    "linha": {"data_type": "bigint", "nullable": False},
    "numero": _text(),
    "cnpj_cliente": _text(),
    "nome_cliente": _text(),
    "data_emissao": {"data_type": "date"},
    "data_vencimento": {"data_type": "date"},
    "valor": _money(),
    "situacao": _text(),
    "data_pagamento": {"data_type": "date"},
    **_marker_column(),
}
_QUARANTINE_COLUMNS = {
    "arquivo": _text(False),
    "linha": {"data_type": "bigint", "nullable": False},
    "motivo": _text(),
    "detalhe": _text(),
    "conteudo": _text(),
    **_marker_column(),
}
_FILE_COLUMNS = {
    "arquivo": _text(False),
    "tipo": _text(False),
    "sha256": _text(False),
    "tamanho_bytes": {"data_type": "bigint"},
    "banco": _text(),
    "agencia": _text(),
    "conta": _text(),
    "linhas_lidas": {"data_type": "bigint"},
    "linhas_carregadas": {"data_type": "bigint"},
    "linhas_quarentena": {"data_type": "bigint"},
    "carregado_em": {"data_type": "timestamp"},
}


def list_files(directory: str | Path) -> list[Path]:
    """Every statement (*.csv) and invoice file (*.json) of a folder, in name order (hidden files
    and other kinds are not history files); none when the folder does not exist."""
    if not Path(directory).is_dir():
        return []
    return sorted(
        p for p in Path(directory).iterdir() if p.is_file() and not p.name.startswith(".") and kind_of(p)
    )


@dlt.source(name="arquivos_financeiros", max_table_nesting=0)
def arquivos_financeiros_source(directory: str = dlt.config.value, files: list[str] | None = None):
    """The history files of a folder (or only `files`, names or paths inside it)."""
    parsed: dict[Path, ParsedFile] = {}

    def read() -> list[ParsedFile]:
        # listed and parsed at extract time (not when the source is built), each file once per run
        for p in _select(directory, files):
            if p not in parsed:
                parsed[p] = parse_file(p)
        return list(parsed.values())

    @dlt.resource(
        name="extratos",
        primary_key=STATEMENT_KEY,
        merge_key="arquivo",
        write_disposition=_PER_FILE,
        schema_contract=SCHEMA_CONTRACT,
        columns=_STATEMENT_COLUMNS,
    )
    def extratos():
        for f in read():
            if f.kind == "extrato":
                yield [_marker(f), *f.rows]

    @dlt.resource(
        name="faturas",
        primary_key=INVOICE_KEY,
        merge_key="arquivo",
        write_disposition=_PER_FILE,
        schema_contract=SCHEMA_CONTRACT,
        columns=_INVOICE_COLUMNS,
    )
    def faturas():
        for f in read():
            if f.kind == "faturas":
                yield [_marker(f), *f.rows]

    @dlt.resource(
        name="quarentena",
        primary_key=("arquivo", "linha"),
        merge_key="arquivo",
        write_disposition=_PER_FILE,
        schema_contract=SCHEMA_CONTRACT,
        columns=_QUARANTINE_COLUMNS,
    )
    def quarentena():
        for f in read():
            yield [_marker(f)] + [
                {
                    "arquivo": f.name,
                    "linha": q.linha,
                    "motivo": q.motivo,
                    "detalhe": q.detalhe,
                    "conteudo": q.conteudo,
                }
                for q in f.quarantine
            ]

    @dlt.resource(
        name="arquivos",
        primary_key="arquivo",
        write_disposition="merge",
        schema_contract=SCHEMA_CONTRACT,
        columns=_FILE_COLUMNS,
    )
    def arquivos():
        now = datetime.now(UTC)
        for f in read():
            yield {
                "arquivo": f.name,
                "tipo": f.kind,
                "sha256": f.sha256,
                "tamanho_bytes": f.size,
                "banco": f.header.get("banco"),
                "agencia": f.header.get("agencia"),
                "conta": f.header.get("conta"),
                "linhas_lidas": f.lines_read,
                "linhas_carregadas": len(f.rows),
                "linhas_quarentena": len({q.linha for q in f.quarantine}),
                "carregado_em": now,
            }

    return extratos, faturas, quarentena, arquivos


LOADER = DltLoader(
    name=PIPELINE_NAME,
    dataset=DATASET,
    domain=DOMAIN,
    source=arquivos_financeiros_source,
    read_settings=read_settings,
    placeholder={"directory": "."},
    pending_packages=PENDING_PACKAGES,
    description="Finance history files: bank statements (CSV, Latin-1) and past invoices (JSON), "
    "with quarantine and a checksum per file",
    origins=lambda settings, kwargs: [
        p.resolve().as_uri() for p in _select(settings.directory, kwargs.get("files"))
    ],
)


def _marker(f: ParsedFile) -> dict:
    """The row that clears a file's old rows from a table and is not inserted (see the docstring)."""
    return {"arquivo": f.name, "linha": -1, _MARKER: True}


def _select(directory: str | Path, files: Iterable[str] | None) -> list[Path]:
    directory = Path(directory)
    if not files:
        found = list_files(directory)
        if not found:
            raise FileNotFoundError(f"no statement (*.csv) or invoice file (*.json) in {directory}")
        return found
    out = []
    for f in files:
        p = Path(f) if Path(f).is_absolute() else directory / f
        if not p.is_file():
            raise FileNotFoundError(f"finance history file {p} does not exist")
        out.append(p)
    return out
