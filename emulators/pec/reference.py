"""Reference data (municipalities and states from shared/data/reference, read at runtime), the
fixed selection behind `create --n`, search text, and the per-municipality defaults (seed,
records per day).
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from mirante.emulators.pec import data as D


def _reference_dir() -> Path:
    from mirante.config import shared_data_dir

    return shared_data_dir() / "reference"


@lru_cache(maxsize=1)
def _municipios() -> dict[str, dict[str, str]]:
    with (_reference_dir() / "municipios.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["codigo_ibge"])
    return {r["codigo_ibge"]: r for r in rows}


@lru_cache(maxsize=1)
def _estados() -> list[dict[str, str]]:
    with (_reference_dir() / "estados.csv").open(encoding="utf-8-sig", newline="") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: int(r["codigo_uf"]))


def selection(n: int | None = None) -> list[str]:
    """The fixed selection behind `create --n N`: capitals by population, then the rest by code."""
    capitals = [c for c in D.CAPITAIS_POR_POPULACAO if c in _municipios()]
    rest = [c for c in _municipios() if c not in set(capitals)]
    ids = capitals + rest
    return ids if n is None else ids[:n]


def _check_id(id_municipio: str) -> str:
    id_municipio = str(id_municipio).strip()
    if not re.fullmatch(r"\d{7}", id_municipio):
        raise ValueError(f"id_municipio must be a 7-digit IBGE code, got {id_municipio!r}")
    if id_municipio not in _municipios():
        raise ValueError(f"unknown IBGE municipality code {id_municipio}")
    return id_municipio


def _sem_acento(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _filtro(*parts: object) -> str:
    """The lower-case, accent-free search text of the PEC's ds_filtro columns."""
    return _sem_acento(" ".join(str(p) for p in parts if p)).lower()[:255]


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def default_seed(id_municipio: str) -> int:
    return _hash_int(f"pec:{id_municipio}") % 2**31


def default_per_day(id_municipio: str) -> float:
    """Mean facts of each kind per working day: 3 for the 5 most populous capitals, 2 for the other
    capitals, 0.8-1.3 elsewhere (deterministic from the IBGE code). With 1.0, two years hold ~2,900
    fact rows (cidadão and cadastro included); a capital ~5,900."""
    if id_municipio in D.CAPITAIS_POR_POPULACAO[:5]:
        return 3.0
    if id_municipio in D.CAPITAIS_POR_POPULACAO:
        return 2.0
    return 0.8 + _hash_int(f"escala:{id_municipio}") % 6 / 10
