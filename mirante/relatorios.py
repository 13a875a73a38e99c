"""The archive of the monthly finance reports: where each file lives, and the manifest that keeps every
version of it. Written by the Dagster asset `relatorios/financeiro_mensal` (orchestration/relatorios.py),
read by the data API (api/relatorios.py): both go through this module, so the API imports no
orchestration and nobody else knows the layout.

Layout under config.relatorios_dir() (MIRANTE_RELATORIOS_DIR, default MIRANTE_HOME/relatorios):

    relatorios.json                      the manifest: one entry per version of every file
    2025-06/dre_2025-06.pdf              the current version of each report of the month
    2025-06/fluxo_caixa_2025-06.csv
    2025-06/anteriores/dre_2025-06.v1.pdf   earlier versions, moved aside, never deleted

Nothing is overwritten silently: publishing content equal (sha256) to the current version records
nothing new; different content moves the current file to anteriores/ (its manifest entry follows it)
and becomes version n+1. A current file edited by hand since it was published (its sha256 no longer
the manifest's) is kept too, as a version of its own marked `alterado_fora_do_arquivo`. Writers hold
an exclusive lock on the folder (fcntl) and the manifest is replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from mirante import config

MANIFEST = "relatorios.json"
#: the reports of a month: the income statement (DRE) and the daily cash flow
TIPOS = ("dre", "fluxo_caixa")
FORMATOS = ("pdf", "csv")
MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}
_MES = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Relatorio:
    """One version of one report file."""

    mes: str  # YYYY-MM
    tipo: str  # dre | fluxo_caixa
    formato: str  # pdf | csv
    versao: int  # 1, 2, ... per (mes, tipo, formato)
    arquivo: str  # path relative to the archive folder
    sha256: str
    bytes: int
    gerado_em: str  # ISO 8601, UTC
    atual: bool
    alterado_fora_do_arquivo: bool = False

    @property
    def nome(self) -> str:
        return file_name(self.mes, self.tipo, self.formato)


def check_mes(mes: str) -> str:
    """`mes` when it is a month YYYY-MM (ValueError otherwise: never a path of a caller's own)."""
    if not isinstance(mes, str) or not _MES.match(mes):
        raise ValueError(f"not a month: {mes!r} (expected YYYY-MM)")
    return mes


def check(mes: str, tipo: str, formato: str) -> None:
    check_mes(mes)
    if tipo not in TIPOS:
        raise ValueError(f"unknown report {tipo!r}: one of {', '.join(TIPOS)}")
    if formato not in FORMATOS:
        raise ValueError(f"unknown format {formato!r}: one of {', '.join(FORMATOS)}")


def file_name(mes: str, tipo: str, formato: str) -> str:
    check(mes, tipo, formato)
    return f"{tipo}_{mes}.{formato}"


def folder() -> Path:
    return config.relatorios_dir()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(base: Path | None = None) -> list[Relatorio]:
    """Every version of every report (empty before the first report)."""
    path = (base or folder()) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [Relatorio(**entry) for entry in data.get("relatorios", [])]


def _write_manifest(base: Path, entries: list[Relatorio]) -> None:
    entries = sorted(entries, key=lambda r: (r.mes, r.tipo, r.formato, r.versao))
    body = json.dumps({"versao": 1, "relatorios": [asdict(e) for e in entries]}, ensure_ascii=False, indent=1)
    fd, tmp = tempfile.mkstemp(dir=base, prefix=".relatorios.", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, base / MANIFEST)


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[None]:
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def current(mes: str | None = None, base: Path | None = None) -> list[Relatorio]:
    """The current version of every report (of month `mes` when given), by month, type and format."""
    return [r for r in read_manifest(base) if r.atual and (mes is None or r.mes == mes)]


def find(mes: str, tipo: str, formato: str, versao: int | None = None, base: Path | None = None):
    """(entry, path) of a report's current version (or of `versao`); None when the archive has none
    or its file is gone."""
    check(mes, tipo, formato)
    base = base or folder()
    for entry in read_manifest(base):
        if (entry.mes, entry.tipo, entry.formato) != (mes, tipo, formato):
            continue
        if (versao is None and entry.atual) or entry.versao == versao:
            path = base / entry.arquivo
            return (entry, path) if path.is_file() else None
    return None


def publish(
    mes: str, tipo: str, formato: str, content: bytes, base: Path | None = None
) -> tuple[Relatorio, bool]:
    """Archive `content` as the current version of a report: (its entry, whether it is new). Equal
    content (sha256) keeps the current version; else the current file is moved to anteriores/."""
    name = file_name(mes, tipo, formato)
    base = base or folder()
    digest = sha256(content)
    with _locked(base):
        entries = read_manifest(base)
        mine = [e for e in entries if (e.mes, e.tipo, e.formato) == (mes, tipo, formato)]
        others = [e for e in entries if e not in mine]
        latest = max((e.versao for e in mine), default=0)
        target = base / mes / name
        live = next((e for e in mine if e.atual), None)
        on_disk = _file_sha256(target) if target.is_file() else None
        if live is not None and on_disk == live.sha256 == digest:
            return live, False
        now = datetime.now(UTC).isoformat(timespec="seconds")
        mine = [replace(e, atual=False) for e in mine]
        if on_disk is not None:  # the file now current, published or not: kept as an earlier version
            edited = live is None or on_disk != live.sha256
            versao = latest + 1 if edited else live.versao
            old = base / mes / "anteriores" / f"{tipo}_{mes}.v{versao}.{formato}"
            old.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, old)
            arquivo = str(old.relative_to(base))
            if edited:
                latest = versao
                size = old.stat().st_size
                mine.append(Relatorio(mes, tipo, formato, versao, arquivo, on_disk, size, now, False, True))
            else:
                mine = [replace(e, arquivo=arquivo) if e.versao == versao else e for e in mine]
        entry = Relatorio(
            mes, tipo, formato, latest + 1, str(target.relative_to(base)), digest, len(content), now, True
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _write_manifest(base, [*others, *mine, entry])
        return entry, True
