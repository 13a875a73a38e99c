"""Offline emulator of the e-SUS APS PEC databases: one PostgreSQL database per municipality.

Every Brazilian municipality on e-SUS APS runs the PEC on its own PostgreSQL database, all with the
same schema. This module creates N such databases (`pec_<ibge code>`) on the project's server with
the real table and column names/types (those of ``shared/docs/pec-schema-columns.txt`` plus four
small dimensions the facts need), fills them with fictitious but plausible records over a window of
days, and appends each new day's records. The loader treats them exactly as remote PEC databases:
one connection string per municipality, read through the login role `pec_leitura`.

    from mirante import db
    from mirante.emulators import pec
    srv = db.setup()
    pec.create_many(srv, ["2704302", "2700300"], password)       # 730 days ending yesterday
    pec.add_day(srv, "2704302", date.today())                     # the day's new records
    pec.connection_url(srv, "2704302", password)                  # what the loader gets

    python -m mirante.emulators.pec create --n 5                  # the 5 most populous capitals
    python -m mirante.emulators.pec create --ids 2704302,2700300 --days 365
    python -m mirante.emulators.pec add-day --date 2025-02-01     # every existing pec_ database
    python -m mirante.emulators.pec list | drop --all | drop --ids 2704302
    (MIRANTE_PEC_SOURCE_PASSWORD holds the role's password; required by `create`)

Selection of `--n N`: the 27 capitals by population (Censo 2022), then every other municipality of
`shared/data/reference/municipios.csv` in IBGE-code order.

How the data is made:
* The schema is created once in a template database (`pec_template`, rebuilt when the DDL changes);
  each municipality is `CREATE DATABASE pec_<id> TEMPLATE pec_template`, then filled with COPY.
* Dimensions: tb_dim_tempo (key yyyymmdd) for every day of the window plus the birth/DUM dates the
  facts reference; the municipality and the 27 UFs; 2-5 health units (random 7-digit CNES), 1-2
  family-health teams each (10-digit INE) with a doctor, a nurse, a nursing technician and 2-4
  community agents (ACS, one per micro-area), some with a dentist; CBO, vaccines, doses, sexes,
  visit outcomes.
* Citizens (tb_fat_cidadao_pec + tb_fat_cad_individual): names from lists of common Brazilian
  names (stored in upper case), CNS valid by the official check-digit algorithm
  (definitive 1/2 and provisional 7/8/9), CPF with valid check digits (9th digit = the UF's fiscal
  region), mobile phones "(DD) 9XXXX-XXXX" with the municipality's DDD. A few have no CNS or no CPF.
* Per day: individual care (tb_fat_atendimento_individual), vaccinations (tb_fat_vacinacao, one row
  per visit, and tb_fat_vacinacao_vacina, one row per dose, following a simplified national
  calendar) and ACS home visits (tb_fat_visita_domiciliar), plus a few new citizens and
  re-registrations. Counts are Poisson draws with mean `per_day` per kind on working days, ~12% of
  that on Saturdays, none on Sundays. Default `per_day`: 3 for the 5 most populous capitals, 2 for
  the other capitals, 0.8-1.3 elsewhere, i.e. ~2,300-3,800 fact rows over two years for most
  municipalities (~7,000-10,000 for capitals). co_seq_* come from one sequence per fact table
  (seq_<table>) and grow with insertion order (and time of day within a day).
* Access: the role `pec_leitura` (password given by the caller, set again on every create) has
  CONNECT on each pec_<id> database (PUBLIC has none), USAGE on `public` and SELECT on its tables,
  nothing else (no sequences, no TEMP), and `default_transaction_read_only = on`.
* Cost: ~0.2-0.3 s and ~10 MB per database (mostly the catalog every PostgreSQL database has);
  650 databases took 2.6 min on 2 cores, `add-day` for all of them 15 s.
* Rows change in place as in the PEC: a new cadastro individual of a citizen sets st_ficha_inativa
  = 1 on the previous one, and deaths (about 4% a year at 60 and over) set st_faleceu = 1 on the
  citizen's tb_fat_cidadao_pec row. `update_rows` changes any column of chosen rows (a corrected
  CBO), and `pending_day` writes a day's records in a transaction left open while other records
  commit with higher keys (an out-of-order commit; a past day makes it a late ficha too).
* Everything is deterministic for a given seed (default: derived from the IBGE code). A day's
  records depend on (seed, day, records already on that day): `create(days=N, end=E)` followed by
  `add_day(E + 1)` gives the same rows as `create(days=N + 1, end=E + 1)`, and calling `add_day`
  again for a day that already has records adds another, different batch.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import random
import re
import sys
import time
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from mirante.emulators import pec_data as D

#: the login role the loader reads every PEC database with (CONNECT + SELECT only)
SOURCE_ROLE = "pec_leitura"
#: the database holding the empty schema, cloned for each municipality
TEMPLATE_DB = "pec_template"
DB_PREFIX = "pec_"
#: environment variable with the role's password for the CLI
PASSWORD_ENV = "MIRANTE_PEC_SOURCE_PASSWORD"
#: prefix of the database comments written by the emulator (metadata read back by add_day)
_TAG = "mirante-pec-emulator"
_LOCK_KEY = 7_245_330_001  # advisory lock: template creation / one add_day per database

I = sql.Identifier


# --------------------------------------------------------------------------------------------
# schema


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # PostgreSQL type as declared ("bigint", "varchar(92)", "timestamp", ...)
    pk: bool = False


def parse_columns(spec: str) -> list[Column]:
    """Columns of a "name type[ PK|(FK)], ..." spec (the format of pec-schema-columns.txt)."""
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


# --------------------------------------------------------------------------------------------
# documents: CNS, CPF, NIS


def _cns_definitivo(pis: str) -> str:
    """The definitive CNS of an 11-digit PIS (official algorithm of the Cartão Nacional de Saúde)."""
    soma = sum(int(d) * (15 - i) for i, d in enumerate(pis))
    dv = 11 - soma % 11
    if dv == 11:
        dv = 0
    if dv == 10:
        dv = 11 - (soma + 2) % 11
        return f"{pis}001{dv}"
    return f"{pis}000{dv}"


def cns_valido(cns: object) -> bool:
    """Whether `cns` is a valid Cartão Nacional de Saúde number (15 digits).

    Definitive numbers (first digit 1 or 2) must equal the number rebuilt from their first 11 digits;
    provisional ones (7, 8 or 9) must have a weighted digit sum (weights 15..1) divisible by 11.
    """
    if not isinstance(cns, str | int):
        return False
    s = str(cns).strip()
    if len(s) != 15 or not s.isascii() or not s.isdigit():
        return False
    if s[0] in "12":
        return _cns_definitivo(s[:11]) == s
    if s[0] in "789":
        return sum(int(d) * (15 - i) for i, d in enumerate(s)) % 11 == 0
    return False


def gerar_cns(rng: random.Random, provisorio: bool = False) -> str:
    """A random valid CNS: definitive (first digit 1/2) or provisional (7/8/9)."""
    if not provisorio:
        return _cns_definitivo(rng.choice("12") + "".join(rng.choices("0123456789", k=10)))
    while True:
        head = rng.choice("789") + "".join(rng.choices("0123456789", k=13))
        dv = -sum(int(d) * (15 - i) for i, d in enumerate(head)) % 11
        if dv < 10:
            return f"{head}{dv}"


def _cpf_dv(digits: Sequence[int]) -> int:
    n = len(digits) + 1
    r = sum(d * (n - i) for i, d in enumerate(digits)) * 10 % 11
    return 0 if r == 10 else r


def cpf_valido(cpf: object) -> bool:
    """Whether `cpf` is a valid CPF: 11 digits (dots and dash allowed), both check digits right,
    not all digits equal."""
    if not isinstance(cpf, str | int):
        return False
    s = str(cpf).strip()
    if re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", s):
        s = re.sub(r"\D", "", s)
    if len(s) != 11 or not s.isascii() or not s.isdigit() or len(set(s)) == 1:
        return False
    d = [int(c) for c in s]
    return _cpf_dv(d[:9]) == d[9] and _cpf_dv(d[:10]) == d[10]


def gerar_cpf(rng: random.Random, regiao_fiscal: int | None = None) -> str:
    """A random valid CPF; `regiao_fiscal` fixes the 9th digit (the issuing fiscal region)."""
    while True:
        d = rng.choices(range(10), k=8) + [rng.randrange(10) if regiao_fiscal is None else regiao_fiscal]
        if len(set(d)) > 1:
            break
    d.append(_cpf_dv(d))
    d.append(_cpf_dv(d))
    return "".join(map(str, d))


def _gerar_nis(rng: random.Random) -> str:
    d = [rng.choice((1, 2))] + rng.choices(range(10), k=9)
    r = sum(x * w for x, w in zip(d, (3, 2, 9, 8, 7, 6, 5, 4, 3, 2), strict=False)) % 11
    return "".join(map(str, d)) + str(0 if r < 2 else 11 - r)


# --------------------------------------------------------------------------------------------
# reference data (shared/data/reference), names


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


# --------------------------------------------------------------------------------------------
# the static world of one municipality: units, teams, professionals


@dataclass
class Profissional:
    id: int
    cns: str
    nome: str
    cbo: str
    equipe: int
    micro_area: str | None = None


@dataclass
class Equipe:
    id: int
    ine: str
    nome: str
    unidade: int
    medicos: list[Profissional] = field(default_factory=list)
    enfermeiros: list[Profissional] = field(default_factory=list)
    tecnicos: list[Profissional] = field(default_factory=list)
    acs: list[Profissional] = field(default_factory=list)


@dataclass
class Unidade:
    id: int
    cnes: str
    nome: str
    bairro: str


@dataclass
class Mundo:
    id_municipio: str
    seed: int
    municipio: dict[str, str]
    uf: dict[str, str]
    co_dim_municipio: int
    co_dim_uf: int
    ddd: str
    lat: float
    lon: float
    regiao_cpf: int
    offset_cidadao: int
    unidades: dict[int, Unidade]
    equipes: dict[int, Equipe]
    profissionais: list[Profissional]
    cbo_ids: dict[str, int]
    vacina_ids: dict[str, int]
    dose_ids: dict[str, int]


def _nome_pessoa(rng: random.Random, sexo: int, sobrenomes: Sequence[str] | None = None) -> str:
    feminino = sexo == D.FEMININO
    parts = [rng.choice(D.NOMES_FEMININOS if feminino else D.NOMES_MASCULINOS)]
    if rng.random() < 0.3:
        parts.append(rng.choice(D.SEGUNDOS_NOMES_FEMININOS if feminino else D.SEGUNDOS_NOMES_MASCULINOS))
    if sobrenomes is None:
        sobrenomes = [rng.choice(D.SOBRENOMES)] if rng.random() < 0.3 else rng.sample(D.SOBRENOMES, 2)
    for i, s in enumerate(sobrenomes):
        part = D.PARTICULA_SOBRENOME.get(s)
        if part and (i == len(sobrenomes) - 1 or rng.random() < 0.5):
            parts.append(part)
        parts.append(s)
    return " ".join(parts).upper()


def build_world(id_municipio: str, seed: int) -> Mundo:
    """Units, teams and professionals of a municipality: a pure function of (id, seed)."""
    mun = _municipios()[id_municipio]
    estados = _estados()
    uf = next(e for e in estados if e["codigo_uf"] == mun["codigo_uf"])
    rng = random.Random(f"{seed}/mundo")
    capital = mun.get("capital") == "1"
    n_unidades = 2 + rng.randrange(2) + (2 if capital else 0)
    bairros = rng.sample(D.BAIRROS, n_unidades)
    unidades: dict[int, Unidade] = {}
    equipes: dict[int, Equipe] = {}
    profs: list[Profissional] = []
    cnes_seen: set[str] = set()

    def prof(cbo: str, equipe: int, micro_area: str | None = None) -> Profissional:
        p = Profissional(
            len(profs) + 1, gerar_cns(rng), _nome_pessoa(rng, rng.choice((1, 2))), cbo, equipe, micro_area
        )
        profs.append(p)
        return p

    for u in range(1, n_unidades + 1):
        while (cnes := str(rng.randrange(2_000_000, 9_999_999))) in cnes_seen:
            pass
        cnes_seen.add(cnes)
        prefixo = rng.choice(D.PREFIXOS_UNIDADE)
        unidades[u] = Unidade(u, cnes, _sem_acento(f"{prefixo} {bairros[u - 1]}").upper(), bairros[u - 1])
        for k in range(1 + (rng.random() < 0.5)):
            e = len(equipes) + 1
            ine = f"{rng.randrange(10**6, 10**7):010d}"
            sufixo = " " + "I" * (k + 1) if k or rng.random() < 0.3 else ""
            nome = _sem_acento(f"ESF {bairros[u - 1]}{sufixo}").upper()
            eq = Equipe(e, ine, nome, u)
            equipes[e] = eq
            eq.medicos.append(prof(D.MEDICO, e))
            eq.enfermeiros.append(prof(D.ENFERMEIRO, e))
            eq.tecnicos.append(prof(D.TECNICO, e))
            for m in range(2 + rng.randrange(3)):
                eq.acs.append(prof(D.ACS, e, f"{m + 1:02d}"))
            if k == 0 and rng.random() < 0.7:
                prof(D.DENTISTA, e)
                prof(D.ASB, e)
    return Mundo(
        id_municipio=id_municipio,
        seed=seed,
        municipio=mun,
        uf=uf,
        co_dim_municipio=list(_municipios()).index(id_municipio) + 1,
        co_dim_uf=estados.index(uf) + 1,
        ddd=mun.get("ddd") or "61",
        lat=float(mun.get("latitude") or 0),
        lon=float(mun.get("longitude") or 0),
        regiao_cpf=D.REGIAO_FISCAL_CPF.get(uf["uf"], 1),
        offset_cidadao=1000 * (1 + rng.randrange(90)),
        unidades=unidades,
        equipes=equipes,
        profissionais=profs,
        cbo_ids={code: i for i, (code, _) in enumerate(D.CBOS, 1)},
        vacina_ids={v[0]: i for i, v in enumerate(D.VACINAS, 1)},
        dose_ids={d: i for i, d in enumerate(D.DOSES, 1)},
    )


def _dimension_rows(w: Mundo) -> dict[str, list[tuple]]:
    """Rows of every dimension but tb_dim_tempo."""
    mun = w.municipio
    return {
        "tb_dim_uf": [
            (i, e["codigo_uf"], e["nome"], e["uf"], 1, _filtro(e["nome"], e["uf"]))
            for i, e in enumerate(_estados(), 1)
        ],
        "tb_dim_municipio": [
            (
                w.co_dim_municipio,
                mun["nome"],
                mun["codigo_ibge"],
                w.co_dim_uf,
                1,
                _filtro(mun["nome"], w.uf["uf"], mun["codigo_ibge"]),
            )
        ],
        "tb_dim_unidade_saude": [
            (u.id, u.cnes, u.nome, u.bairro, 1, _filtro(u.cnes, u.nome)) for u in w.unidades.values()
        ],
        "tb_dim_equipe": [(e.id, e.ine, e.nome, 1, _filtro(e.ine, e.nome)) for e in w.equipes.values()],
        "tb_dim_profissional": [(p.id, p.cns, p.nome, 1, _filtro(p.cns, p.nome)) for p in w.profissionais],
        "tb_dim_cbo": [(w.cbo_ids[c], c, n, 1, _filtro(c, n)) for c, n in D.CBOS],
        "tb_dim_imunobiologico": [(w.vacina_ids[s], ident, s, nome) for s, nome, ident, _ in D.VACINAS],
        "tb_dim_dose_imunobiologico": [(i, d) for d, i in w.dose_ids.items()],
        "tb_dim_sexo": list(D.SEXOS),
        "tb_dim_desfecho_visita": list(D.DESFECHOS_VISITA),
    }


def _tempo_key(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _tempo_row(key: int) -> tuple:
    d = date(key // 10000, key // 100 % 100, key % 100)
    return (key, d, d.day, d.month, d.year, D.DIAS_SEMANA[d.weekday()])


# --------------------------------------------------------------------------------------------
# the generator


@dataclass(slots=True)
class Cidadao:
    id: int
    co_cidadao: int
    nome: str
    sexo: int
    nascimento: date
    cns: str | None
    cpf: str | None
    telefone: str | None
    unidade: int
    equipe: int
    uuid_cad: str | None = None
    #: key of the citizen's active cadastro individual (a new one inactivates it)
    cad_ativo: int | None = None


def _idade(nascimento: date, dia: date) -> int:
    return dia.year - nascimento.year - ((dia.month, dia.day) < (nascimento.month, nascimento.day))


def _idade_meses(nascimento: date, dia: date) -> int:
    return (dia.year - nascimento.year) * 12 + dia.month - nascimento.month - (dia.day < nascimento.day)


def _faixa(idade: int) -> int:
    return sum(1 for lim in D.FAIXAS_ETARIAS if idade >= lim)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _weighted(rng: random.Random, items: Sequence[tuple]) -> tuple:
    """One of (value..., weight) tuples, by weight (the last element)."""
    return rng.choices(items, weights=[it[-1] for it in items])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _flag(rng: random.Random, p: float) -> int:
    return 1 if rng.random() < p else 0


def _day_rng(seed: int, dia: date, batch: int = 0) -> random.Random:
    return random.Random(f"{seed}/dia/{dia.isoformat()}/{batch}")


@lru_cache(maxsize=4096)
def _lote(seed: int, sigla: str, ano: int, trimestre: int, fabricantes: tuple[str, ...]) -> tuple[str, str]:
    """Lot number and manufacturer in use for a vaccine in a municipality in a quarter."""
    rng = random.Random(f"{seed}/lote/{sigla}/{ano}/{trimestre}")
    letras = "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=2))
    return f"{letras}{rng.randrange(1000, 9999)}", rng.choice(fabricantes)


@dataclass(frozen=True)
class Perfil:
    """What stays the same across a citizen's registrations."""

    sexo: int
    nome: str
    nome_mae: str
    nome_pai: str
    desconhece_pai: bool
    nis: str | None
    email: bool
    raca: int
    escolaridade: int
    trabalho: int


@lru_cache(maxsize=8192)
def _perfil(seed: int, cid: int) -> Perfil:
    r = random.Random(f"{seed}/perfil/{cid}")
    sexo = D.FEMININO if r.random() < 0.51 else D.MASCULINO
    mae, pai = r.sample(D.SOBRENOMES, 2), r.sample(D.SOBRENOMES, 2)
    nome = _nome_pessoa(r, sexo, [mae[-1], pai[-1]] if r.random() < 0.7 else [mae[-1]])
    return Perfil(
        sexo=sexo,
        nome=nome,
        nome_mae=_nome_pessoa(r, D.FEMININO, mae),
        nome_pai=_nome_pessoa(r, D.MASCULINO, pai),
        desconhece_pai=r.random() < 0.1,
        nis=_gerar_nis(r) if r.random() < 0.6 else None,
        email=r.random() < 0.2,
        raca=_weighted(r, D.RACAS_COR)[0],
        escolaridade=r.choice(D.ESCOLARIDADES),
        trabalho=_weighted(r, D.SITUACOES_TRABALHO)[0],
    )


class Gerador:
    """Makes the rows of one municipality, day after day, continuing given sequence values."""

    def __init__(
        self, mundo: Mundo, cidadaos: Iterable[Cidadao] = (), next_ids: dict[str, int] | None = None
    ):
        self.w = mundo
        self.cidadaos: list[Cidadao] = list(cidadaos)
        self.cns_usados = {c.cns for c in self.cidadaos if c.cns} | {p.cns for p in mundo.profissionais}
        self.cpf_usados = {c.cpf for c in self.cidadaos if c.cpf}
        self.next_ids = {t: 1 for t in FACT_TABLES} | (next_ids or {})
        self.rows: dict[str, list[tuple]] = {t: [] for t in FACT_TABLES}
        #: position of each row made here, by key: a later change rewrites it in place
        self._pos: dict[str, dict[int, int]] = {t: {} for t in FACT_TABLES}
        #: changes to rows already in the database: (table, key, {column: value})
        self.updates: list[tuple[str, int, dict]] = []
        self.tempo: set[int] = set()
        self._cnes = {e.id: mundo.unidades[e.unidade].cnes for e in mundo.equipes.values()}

    # -- helpers ------------------------------------------------------------------------------

    def _id(self, table: str) -> int:
        i = self.next_ids[table]
        self.next_ids[table] = i + 1
        return i

    def _row(self, table: str, values: dict) -> None:
        if not _COLUMN_SETS[table].issuperset(values):
            raise KeyError(f"{table}: unknown columns {set(values) - _COLUMN_SETS[table]}")
        self._pos[table][values[COLUMN_NAMES[table][0]]] = len(self.rows[table])
        self.rows[table].append(tuple(map(values.get, COLUMN_NAMES[table])))

    def _update(self, table: str, key: int, **values) -> None:
        """Change a row in place, as the PEC does (a ficha inactivated, a death recorded): made
        here, it is rewritten; already in the database, the change is kept for add_day to apply."""
        pos = self._pos[table].get(key)
        if pos is None:
            self.updates.append((table, key, values))
            return
        row = list(self.rows[table][pos])
        for column, value in values.items():
            row[COLUMN_NAMES[table].index(column)] = value
        self.rows[table][pos] = tuple(row)

    def _base(self, table: str, flags: int | None = 0) -> dict:
        return dict.fromkeys(_FLAG_COLUMNS[table], flags)

    def _ficha(self, rng: random.Random, equipe: int) -> str:
        return f"{self._cnes[equipe]}-{_uuid(rng)}"

    def _tk(self, d: date) -> int:
        k = _tempo_key(d)
        self.tempo.add(k)
        return k

    def _acs(self, c: Cidadao) -> Profissional:
        acs = self.w.equipes[c.equipe].acs
        return acs[c.id % len(acs)]

    # -- citizens -----------------------------------------------------------------------------

    def novo_cidadao(self, rng: random.Random, dia: date, recem_nascido: bool = False) -> Cidadao:
        cid = self._id("tb_fat_cidadao_pec")
        perfil = _perfil(self.w.seed, cid)
        sexo, nome = perfil.sexo, perfil.nome
        if recem_nascido:
            nascimento = dia - timedelta(days=rng.randrange(0, 45))
        else:
            lo, hi, _ = _weighted(rng, D.PIRAMIDE_ETARIA)
            nascimento = dia - timedelta(days=rng.randrange(lo * 365, (hi + 1) * 365))
        cns = None
        if recem_nascido or rng.random() < 0.96:
            while (cns := gerar_cns(rng, provisorio=rng.random() < 0.25)) in self.cns_usados:
                pass
            self.cns_usados.add(cns)
        cpf = None
        if (not recem_nascido and rng.random() < 0.85) or (recem_nascido and rng.random() < 0.5):
            regiao = self.w.regiao_cpf if rng.random() < 0.85 else None
            while (cpf := gerar_cpf(rng, regiao)) in self.cpf_usados:
                pass
            self.cpf_usados.add(cpf)
        telefone = None
        if _idade(nascimento, dia) >= 14 and rng.random() < 0.8:
            telefone = (
                f"({self.w.ddd}) 9{rng.randint(6, 9)}{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"
            )
        equipe = self.w.equipes[rng.choice(list(self.w.equipes))]
        c = Cidadao(
            cid,
            self.w.offset_cidadao + cid,
            nome,
            sexo,
            nascimento,
            cns,
            cpf,
            telefone,
            equipe.unidade,
            equipe.id,
        )
        self.tempo.add(_tempo_key(nascimento))
        self._row(
            "tb_fat_cidadao_pec",
            {
                "co_seq_fat_cidadao_pec": cid,
                "co_cidadao": c.co_cidadao,
                "nu_cns": cns,
                "no_cidadao": nome,
                "no_social_cidadao": None,
                "co_dim_tempo_nascimento": _tempo_key(nascimento),
                "co_dim_sexo": sexo,
                "co_dim_identidade_genero": None,
                "nu_telefone_celular": telefone,
                "st_faleceu": 0,
                "st_lookup_etl": 0,
                "st_deletar": 0,
                "nu_cpf_cidadao": cpf,
                "co_dim_unidade_saude_vinc": c.unidade,
                "co_dim_equipe_vinc": c.equipe,
            },
        )
        self.cidadaos.append(c)
        self.cad_individual(rng, dia, c)
        return c

    def _responsavel(self, rng: random.Random, c: Cidadao, dia: date) -> Cidadao | None:
        adultos = [
            a
            for a in self.cidadaos
            if a.equipe == c.equipe
            and a.sexo == D.FEMININO
            and 18 <= _idade(a.nascimento, dia) <= 50
            and a is not c
        ]
        return rng.choice(adultos) if adultos else None

    def cad_individual(self, rng: random.Random, dia: date, c: Cidadao) -> None:
        """A cadastro individual (first one or an update) filled by the citizen's ACS."""
        perfil = _perfil(self.w.seed, c.id)
        idade = _idade(c.nascimento, dia)
        adulto, idoso = idade >= 18, idade >= 60
        acs = self._acs(c)
        cad_id = self._id("tb_fat_cad_individual")
        uuid_ficha = self._ficha(rng, c.equipe)
        if c.uuid_cad is None:
            c.uuid_cad = uuid_ficha
        if c.cad_ativo is not None:  # the update supersedes the citizen's previous ficha
            self._update("tb_fat_cad_individual", c.cad_ativo, st_ficha_inativa=1)
        c.cad_ativo = cad_id
        resp = self._responsavel(rng, c, dia) if idade < 18 else None
        hipertensao = _flag(rng, 0.38 if idade >= 60 else 0.2 if idade >= 40 else 0.03 if adulto else 0)
        deficiencia = _flag(rng, 0.05)
        respiratoria = _flag(rng, 0.05)
        cardiaca = _flag(rng, 0.08 if idade >= 50 else 0.01)
        rins = _flag(rng, 0.02)
        gestante = _flag(rng, 0.05) if c.sexo == D.FEMININO and 15 <= idade <= 45 else 0
        internacao = _flag(rng, 0.05)
        planta = _flag(rng, 0.08)
        defi = rng.choice(
            (
                "st_defi_auditiva",
                "st_defi_intelectual_cognitiva",
                "st_defi_outra",
                "st_defi_visual",
                "st_defi_fisica",
            )
        )
        v = self._base("tb_fat_cad_individual")
        # fields of the street-population block and of children's care stay NULL when not applicable
        for col in (
            "st_recebe_beneficio",
            "st_referencia_familiar",
            "st_orig_alimen_restaurante_pop",
            "st_orig_alimen_doacao_reli",
            "st_orig_alimen_doacao_rest",
            "st_orig_alimen_doacao_popular",
            "st_orig_alimen_outros",
            "st_acompanhado_instituicao",
            "st_visita_familiar_frequente",
            "st_higiene_pessoal_acesso",
            "st_hig_pess_banho",
            "st_hig_pess_sanitario",
            "st_hig_pess_higiene_bucal",
            "st_hig_pess_outros",
        ):
            v[col] = None
        crianca = {
            "st_respons_crianca_adulto_resp",
            "st_respons_crianca_outra_crian",
            "st_respons_crianca_adolescente",
            "st_respons_crianca_sozinha",
            "st_respons_crianca_creche",
            "st_respons_crianca_outro",
        }
        for col in crianca:
            v[col] = None
        if idade < 10:
            v.update(dict.fromkeys(crianca, 0))
            v["st_respons_crianca_adulto_resp" if rng.random() < 0.85 else "st_respons_crianca_creche"] = 1
        v.update(
            {
                "co_seq_fat_cad_individual": cad_id,
                "nu_uuid_ficha": uuid_ficha,
                "nu_uuid_ficha_origem": c.uuid_cad,
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_profissional": acs.id,
                "co_dim_tipo_ficha": D.TIPO_FICHA["cad_individual"],
                "co_dim_municipio": self.w.co_dim_municipio,
                "co_dim_unidade_saude": c.unidade,
                "co_dim_equipe": c.equipe,
                "co_dim_tempo": self._tk(dia),
                "co_dim_sexo": c.sexo,
                "co_dim_raca_cor": perfil.raca,
                "co_dim_nacionalidade": 1,
                "co_dim_pais_nascimento": 1,
                "co_dim_municipio_cidadao": self.w.co_dim_municipio,
                "nu_cns_responsavel": resp.cns if resp else None,
                "st_responsavel_familiar": _flag(rng, 0.4) if adulto else 0,
                "st_frequenta_creche": _flag(rng, 0.35) if idade <= 5 else 0,
                "st_participa_grupo_comunitario": _flag(rng, 0.05),
                "st_plano_saude_privado": _flag(rng, 0.2),
                "st_comunidade_tradicional": _flag(rng, 0.01),
                "st_deficiencia": deficiencia,
                defi: deficiencia,
                "st_gestante": gestante,
                "st_doenca_respiratoria": respiratoria,
                "st_doenca_respira_asma": respiratoria,
                "st_fumante": _flag(rng, 0.1) if adulto else 0,
                "st_alcool": _flag(rng, 0.06) if adulto else 0,
                "st_outra_droga": _flag(rng, 0.01) if adulto else 0,
                "st_hipertensao_arterial": hipertensao,
                "st_diabete": _flag(rng, 0.16 if idade >= 60 else 0.07 if idade >= 40 else 0.01),
                "st_avc": _flag(rng, 0.02) if idoso else 0,
                "st_infarto": _flag(rng, 0.02) if idoso else 0,
                "st_tuberculose": _flag(rng, 0.001),
                "st_cancer": _flag(rng, 0.01 + 0.02 * idoso),
                "st_internacao_12": internacao,
                "st_tratamento_psiquiatra": _flag(rng, 0.03),
                "st_acamado": _flag(rng, 0.02) if idoso else 0,
                "st_domiciliado": _flag(rng, 0.04) if idoso else 0,
                "st_usa_planta_medicinal": planta,
                "st_doenca_cardiaca": cardiaca,
                "st_doenca_card_insuficiencia": cardiaca,
                "st_problema_rins": rins,
                "st_problema_rins_insuficiencia": rins,
                "co_dim_tipo_parentesco": D.PARENTESCO_FILHO
                if idade < 18
                else rng.choice(D.PARENTESCOS_ADULTO),
                "co_dim_cbo": self.w.cbo_ids[D.ACS],
                "co_dim_tipo_escolaridade": perfil.escolaridade if idade >= 4 else None,
                "co_dim_situacao_trabalho": perfil.trabalho if idade >= 16 else None,
                "co_dim_tipo_condicao_peso": rng.choice((1, 2, 2, 2, 3)),
                "co_dim_faixa_etaria": _faixa(idade),
                "st_desconhece_pai": int(perfil.desconhece_pai),
                "st_informar_orientacao_sexual": 0,
                "st_informar_identidade_genero": 0,
                "nu_micro_area": acs.micro_area,
                "st_processo_linha_tempo": 1,
                "st_processo_cidadao": 1,
                "no_nome": c.nome,
                "no_nome_mae": perfil.nome_mae,
                "no_nome_pai": None if perfil.desconhece_pai else perfil.nome_pai,
                "nu_nis": perfil.nis,
                "nu_celular": c.telefone,
                "no_email": (
                    f"{_sem_acento(c.nome.split()[0]).lower()}.{_sem_acento(c.nome.split()[-1]).lower()}"
                    f"{c.id}@exemplo.com.br"
                )
                if perfil.email and adulto
                else None,
                "no_maternidade_referencia": "MATERNIDADE MUNICIPAL" if gestante else None,
                "no_causa_internacao12": rng.choice(D.CAUSAS_INTERNACAO) if internacao else None,
                "no_plantas_medicinais": rng.choice(D.PLANTAS_MEDICINAIS) if planta else None,
                "nu_uuid_dado_transp": uuid_ficha,
                "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_APP_TERRITORIO,
                "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_APP_TERRITORIO,
                "st_gerado_automaticamente": 0,
                "st_ficha_inativa": 0,
                "co_fat_cidadao_pec": c.id,
                "co_fat_cidadao_pec_responsvl": resp.id if resp else None,
                "st_proc_operacionais": 0,
                "nu_cpf_cidadao": c.cpf,
                "nu_cpf_responsavel": resp.cpf if resp else None,
            }
        )
        self._row("tb_fat_cad_individual", v)

    # -- facts --------------------------------------------------------------------------------

    def _antropometria(self, rng: random.Random, c: Cidadao, dia: date) -> tuple[float, float, float | None]:
        meses = _idade_meses(c.nascimento, dia)
        if meses < 12:
            peso, altura = 3.3 + 0.6 * meses + rng.gauss(0, 0.5), 50 + 2.2 * meses + rng.gauss(0, 1.5)
        elif meses < 18 * 12:
            anos = meses / 12
            peso, altura = 2.3 * anos + 8 + rng.gauss(0, 2), 6 * anos + 77 + rng.gauss(0, 4)
            altura = min(altura, 185)
        elif c.sexo == D.MASCULINO:
            peso, altura = rng.gauss(78, 14), rng.gauss(172, 7)
        else:
            peso, altura = rng.gauss(68, 13), rng.gauss(160, 6.5)
        perimetro = round(35 + 0.9 * meses + rng.gauss(0, 1), 1) if meses < 24 else None
        return round(max(peso, 2.0), 1), round(max(altura, 45.0), 1), perimetro

    def _horarios(self, rng: random.Random, dia: date, n: int) -> list[datetime]:
        sabado = dia.weekday() == 5
        inicio, minutos = (8 * 60, 4 * 60) if sabado else (7 * 60, 10 * 60)
        meia_noite = datetime(dia.year, dia.month, dia.day)
        return sorted(meia_noite + timedelta(minutes=inicio + rng.randrange(minutos)) for _ in range(n))

    @staticmethod
    def _turno(t: datetime) -> int:
        return D.TURNO_MANHA if t.hour < 12 else D.TURNO_TARDE if t.hour < 18 else D.TURNO_NOITE

    def atendimento(self, rng: random.Random, inicio: datetime, c: Cidadao) -> None:
        dia = inicio.date()
        eq = self.w.equipes[c.equipe]
        medico = rng.random() < 0.6
        prof = (eq.medicos if medico else eq.enfermeiros)[0]
        idade = _idade(c.nascimento, dia)
        motivos = D.MOTIVOS_CRIANCA if idade < 12 else D.MOTIVOS_ADULTO
        escolhidos = {_weighted(rng, motivos)[:2] for _ in range(1 + (rng.random() < 0.25))}
        gestante = c.sexo == D.FEMININO and 15 <= idade <= 45 and rng.random() < 0.08
        v = self._base("tb_fat_atendimento_individual")
        if gestante:
            escolhidos = {D.CID_PRE_NATAL}
            semanas = rng.randrange(6, 40)
            dum = dia - timedelta(days=semanas * 7 + rng.randrange(7))
            v.update(
                {
                    "co_dim_tempo_dum": self._tk(dum),
                    "st_gravidez_planejada": _flag(rng, 0.45),
                    "nu_idade_gestacional_semanas": semanas,
                    "nu_gestas_previas": rng.choice((0, 0, 1, 1, 2, 3)),
                    "nu_partos": 0,
                }
            )
            v["nu_partos"] = min(v["nu_gestas_previas"], rng.randrange(3))
        else:
            v.update(
                {
                    "st_gravidez_planejada": None,
                    "nu_idade_gestacional_semanas": None,
                    "nu_gestas_previas": None,
                    "nu_partos": None,
                }
            )
        cids = "|" + "|".join(sorted(c_ for c_, _ in escolhidos)) + "|"
        ciaps = "|" + "|".join(sorted(ci for _, ci in escolhidos)) + "|"
        procs = [D.PROC_CONSULTA_MEDICA if medico else D.PROC_CONSULTA_NIVEL_SUPERIOR]
        if idade >= 18 and rng.random() < 0.6:
            procs.append(D.PROC_AFERICAO_PA)
        cronico = any(ci in ("K86", "T90", "T93") for _, ci in escolhidos)
        if cronico and rng.random() < 0.4:
            procs.append(D.PROC_GLICEMIA_CAPILAR)
        solicitados = (
            rng.sample(D.EXAMES_SOLICITADOS, rng.randint(1, 3))
            if (cronico or gestante) and rng.random() < 0.5
            else []
        )
        conduta = rng.choices(
            (
                "st_conduta_alta_episodio",
                "st_conduta_cuidd_conti_program",
                "st_conduta_consulta_agendada",
                "st_encaminhamento_serv_special",
                "st_conduta_agendamento_grupos",
                "st_conduta_agendamento_nasf",
                "st_encaminhamento_urgencia",
                "st_encaminhamento_caps",
                "st_encaminhamento_intern_hospi",
                "st_encaminhamento_interno_dia",
            ),
            weights=(40, 28, 14, 8, 3, 2, 1, 1, 0.5, 2.5),
        )[0]
        peso = altura = perimetro = None
        if rng.random() < 0.7 or idade < 2:
            peso, altura, perimetro = self._antropometria(rng, c, dia)
        fim = inicio + timedelta(minutes=rng.randint(8, 40))
        v.update(
            {
                "co_seq_fat_atd_ind": self._id("tb_fat_atendimento_individual"),
                "co_dim_municipio": self.w.co_dim_municipio,
                "co_dim_tipo_ficha": D.TIPO_FICHA["atendimento_individual"],
                "co_dim_profissional_1": prof.id,
                "co_dim_cbo_1": self.w.cbo_ids[prof.cbo],
                "co_dim_unidade_saude_1": c.unidade,
                "co_dim_equipe_1": c.equipe,
                "co_dim_tempo": self._tk(dia),
                "co_dim_racionalidade_saude": None,
                "nu_uuid_ficha": self._ficha(rng, c.equipe),
                "nu_atendimento": 1,
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_faixa_etaria": _faixa(idade),
                "co_dim_sexo": c.sexo,
                "co_dim_turno": self._turno(inicio),
                "co_dim_local_atendimento": D.LOCAL_DOMICILIO if rng.random() < 0.04 else D.LOCAL_UBS,
                "co_dim_tipo_atendimento": _weighted(rng, D.TIPOS_ATENDIMENTO)[0],
                "nu_peso": peso,
                "nu_altura": altura,
                "nu_perimetro_cefalico": perimetro,
                "st_vacinacao_em_dia": _flag(rng, 0.85) if idade < 10 else None,
                "co_dim_aleitamento": rng.randint(1, 4) if idade < 2 else None,
                "st_ficou_em_observacao": _flag(rng, 0.02),
                conduta: 1,
                "ds_filtro_cids": cids if medico else None,
                "ds_filtro_ciaps": ciaps if (not medico or rng.random() < 0.3) else None,
                "ds_filtro_proced_avaliados": "|" + "|".join(procs) + "|",
                "ds_filtro_proced_solicitados": "|" + "|".join(solicitados) + "|" if solicitados else None,
                "nu_prontuario": str(c.co_cidadao),
                "nu_uuid_dado_transp": None,
                "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_PEC,
                "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_PEC,
                "co_fat_cidadao_pec": c.id,
                "dt_inicial_atendimento": inicio,
                "dt_final_atendimento": fim,
                "nu_cpf_cidadao": c.cpf,
            }
        )
        for col in (
            "st_nasf_avaliacao_diagnostico",
            "st_nasf_proce_clin_terapeutico",
            "st_nasf_prescricao_terapeutica",
        ):
            v[col] = None
        v["nu_uuid_dado_transp"] = v["nu_uuid_ficha"]
        self._row("tb_fat_atendimento_individual", v)

    def _doses(self, rng: random.Random, c: Cidadao, dia: date) -> list[tuple[str, str, int]]:
        """(vaccine, dose, strategy) given at one visit, by age and season."""
        meses = _idade_meses(c.nascimento, dia)
        campanha = 4 <= dia.month <= 7 and meses >= 6
        if campanha and rng.random() < (0.35 if meses < 60 else 0.6):
            doses = [("INF", "Dose", D.ESTRATEGIA_CAMPANHA)]
            if meses >= 60 and rng.random() < 0.2:
                doses.append(("COVID-19", "Reforço", D.ESTRATEGIA_CAMPANHA))
            return doses
        if meses < 60:
            slot = [doses for m, doses in D.CALENDARIO_CRIANCA if m <= meses][-1]
            return [(v, d, D.ESTRATEGIA_ROTINA) for v, d in slot]
        anos = meses // 12
        elegiveis = [(v, d) for v, d, lo, hi in D.VACINAS_ADOLESCENTE_ADULTO if lo <= anos <= hi]
        escolhidas = rng.sample(elegiveis, min(len(elegiveis), 1 + (rng.random() < 0.25)))
        return [(v, d, D.ESTRATEGIA_ROTINA) for v, d in escolhidas]

    def vacinacao(self, rng: random.Random, inicio: datetime, c: Cidadao) -> None:
        dia = inicio.date()
        eq = self.w.equipes[c.equipe]
        prof = (eq.tecnicos if rng.random() < 0.7 else eq.enfermeiros)[0]
        idade = _idade(c.nascimento, dia)
        doses = self._doses(rng, c, dia)
        vac_id = self._id("tb_fat_vacinacao")
        uuid_ficha = self._ficha(rng, c.equipe)
        tk = self._tk(dia)
        gestante = _flag(rng, 0.06) if c.sexo == D.FEMININO and 15 <= idade <= 45 else 0
        comum = {
            "co_dim_tipo_ficha": D.TIPO_FICHA["vacinacao"],
            "co_dim_municipio": self.w.co_dim_municipio,
            "co_dim_profissional": prof.id,
            "co_dim_cbo": self.w.cbo_ids[prof.cbo],
            "co_dim_unidade_saude": c.unidade,
            "co_dim_equipe": c.equipe,
            "co_dim_tempo": tk,
            "nu_uuid_ficha": uuid_ficha,
            "nu_atendimento": 1,
            "nu_uuid_dado_transp": uuid_ficha,
            "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_PEC,
            "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_PEC,
        }
        lotes = []
        for sigla, dose, estrategia in doses:
            fabricantes = next(v[3] for v in D.VACINAS if v[0] == sigla)
            lote, fabricante = _lote(self.w.seed, sigla, dia.year, (dia.month - 1) // 3, fabricantes)
            lotes.append((lote, fabricante))
            self._row(
                "tb_fat_vacinacao_vacina",
                comum
                | {
                    "co_seq_fat_vacinacao_vacina": self._id("tb_fat_vacinacao_vacina"),
                    "co_fat_vacinacao": vac_id,
                    "co_dim_imunobiologico": self.w.vacina_ids[sigla],
                    "co_dim_estrategia_vacinacao": estrategia,
                    "co_dim_dose_imunobiologico": self.w.dose_ids[dose],
                    "no_lote": lote,
                    "no_fabricante": fabricante,
                    "co_dim_grupo_atendimento": None,
                    "st_registro_anterior": 0,
                    "co_dim_tempo_vacina_aplicada": tk,
                },
            )

        def filtro(values: Iterable[object]) -> str:
            return "|" + "|".join(dict.fromkeys(str(x) for x in values)) + "|"

        self._row(
            "tb_fat_vacinacao",
            comum
            | {
                "co_seq_fat_vacinacao": vac_id,
                "co_dim_faixa_etaria": _faixa(idade),
                "co_dim_turno": self._turno(inicio),
                "nu_prontuario": str(c.co_cidadao),
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_sexo": c.sexo,
                "co_dim_local_atendimento": D.LOCAL_UBS,
                "st_viajante": _flag(rng, 0.01),
                "st_comunicante_hanseniase": 0,
                "st_gestante": gestante,
                "st_puerpera": 0,
                "ds_filtro_imunobiologico": filtro(self.w.vacina_ids[s] for s, _, _ in doses),
                "ds_filtro_estrategia_vacinacao": filtro(e for _, _, e in doses),
                "ds_filtro_dose_imunobiologico": filtro(self.w.dose_ids[d] for _, d, _ in doses),
                "ds_filtro_lote": filtro(lote for lote, _ in lotes),
                "ds_filtro_fabricante": filtro(f for _, f in lotes),
                "co_fat_cidadao_pec": c.id,
                "dt_inicial_atendimento": inicio,
                "dt_final_atendimento": inicio + timedelta(minutes=rng.randint(4, 15)),
                "nu_cpf_cidadao": c.cpf,
                "ds_filtro_grupo_atendimento": None,
            },
        )

    def visita(self, rng: random.Random, dia: date, c: Cidadao) -> None:
        acs = self._acs(c)
        idade = _idade(c.nascimento, dia)
        desfecho = rng.choices((D.REALIZADA, D.RECUSADA, D.AUSENTE), weights=(90, 3, 7))[0]
        v = self._base("tb_fat_visita_domiciliar")
        peso = altura = None
        pressao = glicemia = None
        if desfecho == D.REALIZADA:
            motivo = rng.choices(
                (
                    "st_mot_vis_visita_periodica",
                    "st_mot_vis_cad_att",
                    "st_mot_vis_busca_ativa",
                    "st_mot_vis_acompanhamento",
                    "st_mot_vis_ctrl_ambnte_vetor",
                    "st_mot_vis_orintacao_prevncao",
                    "st_mot_vis_egresso_internacao",
                    "st_mot_vis_outros",
                ),
                weights=(45, 10, 10, 25, 4, 3, 1, 2),
            )[0]
            v[motivo] = 1
            if motivo == "st_mot_vis_busca_ativa":
                v[
                    rng.choice(
                        (
                            "st_busca_ativa_consulta",
                            "st_busca_ativa_exame",
                            "st_busca_ativa_vacina",
                            "st_busca_ativa_bolsa_familia",
                        )
                    )
                ] = 1
            elif motivo == "st_mot_vis_acompanhamento":
                if idade < 2:
                    v["st_acomp_recem_nascido" if idade == 0 else "st_acomp_crianca"] = 1
                    if rng.random() < 0.3:
                        peso, altura, _ = self._antropometria(rng, c, dia)
                elif idade < 12:
                    v["st_acomp_crianca"] = 1
                elif idade >= 40:
                    v[
                        rng.choice(
                            (
                                "st_acomp_pessoa_hipertensao",
                                "st_acomp_pessoa_hipertensao",
                                "st_acomp_pessoa_diabetes",
                                "st_acomp_pessoa_doenca_cronica",
                                "st_acomp_domiciliados_acamados",
                            )
                        )
                    ] = 1
                else:
                    v[
                        rng.choice(
                            (
                                "st_acomp_condi_bolsa_familia",
                                "st_acomp_saude_mental",
                                "st_acomp_tabagista",
                                "st_acomp_condi_vulnerab_social",
                            )
                        )
                    ] = 1
            elif motivo == "st_mot_vis_ctrl_ambnte_vetor":
                v[
                    rng.choice(
                        (
                            "st_ctrl_amb_vet_acao_educativa",
                            "st_ctrl_amb_vet_imovel_foco",
                            "st_ctrl_amb_vet_acao_mecanica",
                            "st_ctrl_amb_vet_tratamnt_focal",
                        )
                    )
                ] = 1
            if idade >= 40 and rng.random() < 0.15:
                pressao = f"{rng.randrange(110, 165, 5)}/{rng.randrange(70, 100, 5)}"
            if idade >= 40 and rng.random() < 0.05:
                glicemia = str(rng.randrange(80, 220))
        uuid_ficha = self._ficha(rng, c.equipe)
        v.update(
            {
                "co_seq_fat_visita_domiciliar": self._id("tb_fat_visita_domiciliar"),
                "nu_uuid_ficha": uuid_ficha,
                "co_dim_tipo_ficha": D.TIPO_FICHA["visita_domiciliar"],
                "co_dim_municipio": self.w.co_dim_municipio,
                "co_dim_profissional": acs.id,
                "co_dim_cbo": self.w.cbo_ids[D.ACS],
                "co_dim_unidade_saude": c.unidade,
                "co_dim_equipe": c.equipe,
                "co_dim_tempo": self._tk(dia),
                "co_dim_tipo_imovel": D.TIPO_IMOVEL_DOMICILIO,
                "co_dim_turno": D.TURNO_MANHA if rng.random() < 0.6 else D.TURNO_TARDE,
                "co_dim_sexo": c.sexo,
                "nu_micro_area": acs.micro_area,
                "nu_peso": peso,
                "nu_altura": altura,
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_faixa_etaria": _faixa(idade),
                "st_visita_compartilhada": _flag(rng, 0.03),
                "co_dim_desfecho_visita": desfecho,
                "nu_uuid_dado_transp": uuid_ficha,
                "nu_prontuario": None,
                "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_APP_TERRITORIO,
                "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_APP_TERRITORIO,
                "co_fat_cidadao_pec": c.id,
                "nu_cpf_cidadao": c.cpf,
                "co_dim_tipo_glicemia": 1 if glicemia else None,
                "nu_medicao_pressao_arterial": pressao,
                "nu_medicao_temperatura": None,
                "nu_medicao_glicemia": glicemia,
                "nu_latitude": round(self.w.lat + rng.uniform(-0.02, 0.02), 6),
                "nu_longitude": round(self.w.lon + rng.uniform(-0.02, 0.02), 6),
                "co_uuid_origem_fcd": None,
            }
        )
        self._row("tb_fat_visita_domiciliar", v)

    # -- days ---------------------------------------------------------------------------------

    def populacao_inicial(self, rng: random.Random, dia: date, n: int) -> None:
        for _ in range(n):
            self.novo_cidadao(rng, dia)

    def dia(self, rng: random.Random, dia: date, per_day: float) -> None:
        """One day's records: new citizens and re-registrations, then care, vaccination and visits."""
        self.tempo.add(_tempo_key(dia))
        fator = (1.0, 1.0, 1.0, 1.0, 1.0, 0.12, 0.0)[dia.weekday()]
        lam = per_day * fator
        for _ in range(_poisson(rng, 0.12 * lam)):
            self.novo_cidadao(rng, dia, recem_nascido=rng.random() < 0.4)
        nascidos = [c for c in self.cidadaos if c.nascimento <= dia]  # backfilled days: born by then
        if not nascidos:
            return
        for _ in range(_poisson(rng, 0.05 * lam)):
            self.cad_individual(rng, dia, rng.choice(nascidos))
        for inicio in self._horarios(rng, dia, _poisson(rng, lam)):
            self.atendimento(rng, inicio, rng.choice(nascidos))
        limite = dia - timedelta(days=7 * 365)
        criancas = [c for c in nascidos if c.nascimento > limite]
        for inicio in self._horarios(rng, dia, _poisson(rng, lam)):
            c = rng.choice(criancas) if criancas and rng.random() < 0.55 else rng.choice(nascidos)
            self.vacinacao(rng, inicio, c)
        for _ in range(_poisson(rng, lam)):
            self.visita(rng, dia, rng.choice(nascidos))
        self.obitos(dia, nascidos)

    def obitos(self, dia: date, vivos: list[Cidadao]) -> None:
        """Deaths of the day (about 4% a year at 60 and over, 0.2% below): st_faleceu turns 1 on
        the citizen's row, which is how the PEC records them; the citizen gets no more records.
        A random stream of its own, so the day's other records stay what they were."""
        rng = random.Random(f"{self.w.seed}/obito/{dia.isoformat()}")
        idosos = [c for c in vivos if _idade(c.nascimento, dia) >= 60]
        mortos: dict[int, Cidadao] = {}
        for grupo, taxa in ((idosos, TAXA_OBITO_IDOSO), (vivos, TAXA_OBITO)):
            for _ in range(_poisson(rng, taxa * len(grupo)) if grupo else 0):
                c = rng.choice(grupo)
                mortos[c.id] = c
        for ident in sorted(mortos):
            self._update("tb_fat_cidadao_pec", ident, st_faleceu=1)
            self.cidadaos.remove(mortos[ident])


#: daily probability of death: 60 and over (about 4% a year), everyone (about 0.2% a year)
TAXA_OBITO_IDOSO = 0.04 / 365
TAXA_OBITO = 0.002 / 365


def initial_population(mundo: Mundo, per_day: float) -> int:
    return int(70 * per_day) + random.Random(f"{mundo.seed}/populacao").randrange(60)


def generate(
    id_municipio: str,
    *,
    days: int = 730,
    end: date | None = None,
    per_day: float | None = None,
    seed: int | None = None,
) -> tuple[dict[str, list[tuple]], dict]:
    """All rows of a new PEC database (no database involved): {table: rows}, and the metadata."""
    id_municipio = _check_id(id_municipio)
    if days < 1:
        raise ValueError("days must be >= 1")
    end = end or date.today() - timedelta(days=1)
    seed = default_seed(id_municipio) if seed is None else int(seed)
    per_day = default_per_day(id_municipio) if per_day is None else per_day
    mundo = build_world(id_municipio, seed)
    start = end - timedelta(days=days - 1)
    g = Gerador(mundo)
    g.populacao_inicial(random.Random(f"{seed}/inicial"), start, initial_population(mundo, per_day))
    for i in range(days):
        d = start + timedelta(days=i)
        g.dia(_day_rng(seed, d), d, per_day)
    rows = _dimension_rows(mundo)
    rows["tb_dim_tempo"] = [_tempo_row(k) for k in sorted(g.tempo)]
    rows.update(g.rows)
    meta = {"seed": seed, "per_day": per_day, "start": start.isoformat(), "end": end.isoformat()}
    return {t: rows[t] for t in LOAD_ORDER}, meta


# --------------------------------------------------------------------------------------------
# database side


def database_name(id_municipio: str) -> str:
    return f"{DB_PREFIX}{id_municipio}"


def connection_url(srv, id_municipio: str, password: str) -> str:
    """TCP URL the loader uses for one municipality (role pec_leitura, password auth, TLS checked
    against the server's CA as for every other connection to it)."""
    from mirante import config

    return config.with_params(
        f"postgresql://{SOURCE_ROLE}:{quote(password, safe='')}@{srv.host}:{srv.port}/"
        f"{database_name(id_municipio)}",
        config.esus_ssl(srv.host, srv.port, srv),
    )


def _admin(srv, database: str = "postgres", **kw) -> psycopg.Connection:
    return psycopg.connect(srv.admin(database), autocommit=True, **kw)


def ensure_source_role(conn: psycopg.Connection, password: str) -> None:
    """Create the read-only login role, or reset its password."""
    if not password:
        raise ValueError(f"a password for role {SOURCE_ROLE} is required")
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (SOURCE_ROLE,)).fetchone()
    conn.execute(
        sql.SQL("{} role {} login nosuperuser nocreatedb nocreaterole noreplication password {}").format(
            sql.SQL("alter" if exists else "create"), I(SOURCE_ROLE), sql.Literal(password)
        )
    )
    conn.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(I(SOURCE_ROLE)))


def _db_comment(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute(
        "select shobj_description(oid, 'pg_database') from pg_database where datname = %s", (name,)
    ).fetchone()
    return row[0] if row else None


def ensure_template(srv) -> None:
    """Create (or rebuild when the DDL changed) the template database holding the empty schema."""
    tag = f"{_TAG} template {_ddl_version()}"
    with _admin(srv) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            if _db_comment(conn, TEMPLATE_DB) == tag:
                return
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(I(TEMPLATE_DB)))
            conn.execute(
                sql.SQL("create database {} template template0 encoding 'UTF8'").format(I(TEMPLATE_DB))
            )
            conn.execute(sql.SQL("revoke all on database {} from public").format(I(TEMPLATE_DB)))
            with _admin(srv, TEMPLATE_DB) as tconn:
                tconn.execute(ddl())
            conn.execute(sql.SQL("comment on database {} is {}").format(I(TEMPLATE_DB), sql.Literal(tag)))
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _copy(conn: psycopg.Connection, table: str, rows: Sequence[tuple]) -> None:
    if not rows:
        return
    stmt = sql.SQL("copy {} ({}) from stdin").format(
        I(table), sql.SQL(", ").join(map(I, COLUMN_NAMES[table]))
    )
    with conn.cursor() as cur, cur.copy(stmt) as cp:
        for row in rows:
            cp.write_row(row)


def _setval(conn: psycopg.Connection, next_ids: dict[str, int]) -> None:
    for table, nxt in next_ids.items():
        if nxt > 1:
            conn.execute("select setval(%s, %s, true)", (f"seq_{table}", nxt - 1))


def create_municipio(
    srv,
    id_municipio: str,
    password: str | None,
    *,
    days: int = 730,
    end: date | None = None,
    per_day: float | None = None,
    seed: int | None = None,
) -> dict[str, int]:
    """(Re)create pec_<id> from the template, grant the source role, fill it; rows per table.

    `password` (re)sets the source role's password; None leaves the role as it is (it must exist).
    """
    rows, meta = generate(id_municipio, days=days, end=end, per_day=per_day, seed=seed)
    _prepare(srv, password)
    return _write_database(srv, _check_id(id_municipio), rows, meta)


def _prepare(srv, password: str | None) -> None:
    with _admin(srv) as conn:
        if password is not None:
            ensure_source_role(conn, password)
        elif not conn.execute("select 1 from pg_roles where rolname = %s", (SOURCE_ROLE,)).fetchone():
            raise ValueError(f"role {SOURCE_ROLE} does not exist: pass its password")
    ensure_template(srv)


def _write_database(srv, id_municipio: str, rows: dict[str, list[tuple]], meta: dict) -> dict[str, int]:
    name = database_name(id_municipio)
    with _admin(srv) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(I(name)))
        conn.execute(sql.SQL("create database {} template {}").format(I(name), I(TEMPLATE_DB)))
        conn.execute(
            sql.SQL("comment on database {} is {}").format(I(name), sql.Literal(f"{_TAG} {json.dumps(meta)}"))
        )
        conn.execute(sql.SQL("revoke all on database {} from public").format(I(name)))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(I(name), I(SOURCE_ROLE)))
    with psycopg.connect(srv.admin(name)) as conn:
        conn.execute("set local synchronous_commit = off")
        conn.execute(sql.SQL("grant usage on schema public to {}").format(I(SOURCE_ROLE)))
        conn.execute(sql.SQL("grant select on all tables in schema public to {}").format(I(SOURCE_ROLE)))
        for table, table_rows in rows.items():
            _copy(conn, table, table_rows)
        _setval(conn, {t: len(rows[t]) + 1 for t in FACT_TABLES})
    return {t: len(r) for t, r in rows.items()}


def create_many(srv, ids: Sequence[str], password: str | None, **kw) -> dict[str, dict[str, int]]:
    """create_municipio for every id, in order (role and template prepared once); rows per table
    per id. Sequential on purpose: generating in parallel processes or threads measured slower on
    2 cores, where the server's COPY and CREATE DATABASE compete for the same CPUs."""
    ids = [_check_id(i) for i in ids]
    _prepare(srv, password)
    return {i: _write_database(srv, i, *generate(i, **kw)) for i in ids}


def _meta(conn: psycopg.Connection) -> dict:
    row = conn.execute(
        "select shobj_description(oid, 'pg_database') from pg_database where datname = current_database()"
    ).fetchone()
    comment = (row and row[0]) or ""
    if comment.startswith(_TAG + " "):
        try:
            return json.loads(comment[len(_TAG) + 1 :])
        except ValueError:
            pass
    return {}


def _load_citizens(conn: psycopg.Connection) -> list[Cidadao]:
    rows = conn.execute("""
        select c.co_seq_fat_cidadao_pec, c.co_cidadao, c.no_cidadao, c.co_dim_sexo, c.co_dim_tempo_nascimento,
               c.nu_cns, c.nu_cpf_cidadao, c.nu_telefone_celular, c.co_dim_unidade_saude_vinc,
               c.co_dim_equipe_vinc, cad.nu_uuid_ficha,
               (select max(a.co_seq_fat_cad_individual) from tb_fat_cad_individual a
                where a.co_fat_cidadao_pec = c.co_seq_fat_cidadao_pec and a.st_ficha_inativa = 0)
        from tb_fat_cidadao_pec c
        left join (select distinct on (co_fat_cidadao_pec) co_fat_cidadao_pec, nu_uuid_ficha
                   from tb_fat_cad_individual order by co_fat_cidadao_pec, co_seq_fat_cad_individual) cad
               on cad.co_fat_cidadao_pec = c.co_seq_fat_cidadao_pec
        where c.st_deletar = 0 and c.st_faleceu = 0
        order by c.co_seq_fat_cidadao_pec""").fetchall()
    return [
        Cidadao(
            r[0],
            r[1],
            r[2],
            r[3],
            date(r[4] // 10000, r[4] // 100 % 100, r[4] % 100),
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
            r[11],
        )
        for r in rows
    ]


def _next_ids(conn: psycopg.Connection) -> dict[str, int]:
    out = {}
    for table in FACT_TABLES:
        last, called = conn.execute(
            sql.SQL("select last_value, is_called from {}").format(I(f"seq_{table}"))
        ).fetchone()
        out[table] = last + 1 if called else last
    return out


def _day(
    conn: psycopg.Connection, id_municipio: str, day: date, per_day: float | None
) -> tuple[Gerador, list[tuple]]:
    """A day's generator run against the database's current state, and the tb_dim_tempo rows the
    day needs that the database lacks (the caller holds the per-database lock)."""
    meta = _meta(conn)
    seed = int(meta.get("seed", default_seed(id_municipio)))
    if per_day is None:
        per_day = meta.get("per_day", default_per_day(id_municipio))
    key = _tempo_key(day)
    batch = sum(
        conn.execute(
            sql.SQL("select count(*) from {} where co_dim_tempo = %s").format(I(t)), (key,)
        ).fetchone()[0]
        for t in FACT_TABLES
        if t != "tb_fat_cidadao_pec"
    )
    g = Gerador(build_world(id_municipio, seed), _load_citizens(conn), _next_ids(conn))
    g.dia(_day_rng(seed, day, batch), day, per_day)
    known = {
        r[0]
        for r in conn.execute(
            "select co_seq_dim_tempo from tb_dim_tempo where co_seq_dim_tempo = any(%s)", (sorted(g.tempo),)
        )
    }
    return g, [_tempo_row(k) for k in sorted(g.tempo - known)]


def _apply_updates(conn: psycopg.Connection, updates: list[tuple[str, int, dict]]) -> None:
    for table, key, values in updates:
        conn.execute(
            sql.SQL("update {} set {} where {} = %s").format(
                I(table), sql.SQL(", ").join(sql.SQL("{} = %s").format(I(c)) for c in values), I(_pk(table))
            ),
            [*values.values(), key],
        )


def _counts(g: Gerador, novos_tempo: list[tuple]) -> dict[str, int]:
    return (
        {"tb_dim_tempo": len(novos_tempo)}
        | {t: len(g.rows[t]) for t in FACT_TABLES}
        | {"atualizacoes": len(g.updates)}
    )


def add_day(srv, id_municipio: str, day: date, per_day: float | None = None) -> dict[str, int]:
    """Append one day's new records to pec_<id> (sequences continue; tb_dim_tempo rows added when
    missing; maybe a few new citizens) and apply the day's changes to existing rows (fichas
    superseded by a new cadastro get st_ficha_inativa = 1, deaths st_faleceu = 1). Returns rows
    added per table and `atualizacoes`, the rows changed in place."""
    id_municipio = _check_id(id_municipio)
    if isinstance(day, datetime):
        day = day.date()
    with psycopg.connect(srv.admin(database_name(id_municipio))) as conn:
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        g, novos_tempo = _day(conn, id_municipio, day, per_day)
        conn.execute("set local synchronous_commit = off")
        _copy(conn, "tb_dim_tempo", novos_tempo)
        for table in FACT_TABLES:
            _copy(conn, table, g.rows[table])
        _apply_updates(conn, g.updates)
        _setval(conn, g.next_ids)
    return _counts(g, novos_tempo)


@contextmanager
def pending_day(srv, id_municipio: str, day: date, per_day: float | None = None) -> Iterator[dict[str, int]]:
    """A day's records written in a transaction that stays open while the block runs, committed
    when it ends (rolled back if it raises): an out-of-order commit. Their keys are taken at once,
    so records added meanwhile (add_day, another pending day) get HIGHER keys and may commit
    first, as concurrent PEC sessions and their sequence caches do; a `day` in the past is a late
    ficha on top of that. Yields the counts add_day returns.

    The day's changes to existing rows (inactivated fichas, deaths) commit at once with the key
    reservation: the open transaction only inserts, so it holds no lock another writer could wait
    on."""
    id_municipio = _check_id(id_municipio)
    name = database_name(id_municipio)
    with psycopg.connect(srv.admin(name)) as reserve:  # short: generate, reserve keys, add the days
        reserve.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        g, novos_tempo = _day(reserve, id_municipio, day, per_day)
        _copy(reserve, "tb_dim_tempo", novos_tempo)
        _apply_updates(reserve, g.updates)
        _setval(reserve, g.next_ids)
    conn = psycopg.connect(srv.admin(name))
    try:
        for table in FACT_TABLES:
            _copy(conn, table, g.rows[table])
        yield _counts(g, novos_tempo)
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()
    finally:
        conn.close()


def update_rows(srv, id_municipio: str, table: str, keys: Sequence[int], **values) -> int:
    """Change columns of existing rows in place (e.g. a corrected co_dim_cbo_1), committed at once;
    returns the rows changed."""
    if table not in TABLES or not set(values) <= _COLUMN_SETS[table]:
        raise ValueError(f"unknown table or columns: {table} {sorted(values)}")
    with psycopg.connect(srv.admin(database_name(_check_id(id_municipio)))) as conn:
        return conn.execute(
            sql.SQL("update {} set {} where {} = any(%s)").format(
                I(table), sql.SQL(", ").join(sql.SQL("{} = %s").format(I(c)) for c in values), I(_pk(table))
            ),
            [*values.values(), list(keys)],
        ).rowcount


def list_municipios(srv) -> list[str]:
    """IBGE codes of the existing pec_<id> databases."""
    with _admin(srv) as conn:
        rows = conn.execute(
            "select datname from pg_database where datname ~ '^pec_[0-9]+$' order by 1"
        ).fetchall()
    return [r[0][len(DB_PREFIX) :] for r in rows]


def drop_municipio(srv, id_municipio: str) -> None:
    with _admin(srv) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(I(database_name(str(id_municipio))))
        )


def drop_all(srv, *, template: bool = True, role: bool = True) -> list[str]:
    """Drop every pec_<id> database, then (by default) the template and the source role."""
    ids = list_municipios(srv)
    for i in ids:
        drop_municipio(srv, i)
    with _admin(srv) as conn:
        if template:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(I(TEMPLATE_DB)))
        if role:
            conn.execute(sql.SQL("drop role if exists {}").format(I(SOURCE_ROLE)))
    return ids


# --------------------------------------------------------------------------------------------
# command line


def _ids_arg(text: str) -> list[str]:
    return [i.strip() for i in text.split(",") if i.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mirante.emulators.pec", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="(re)create PEC databases")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--n", type=int, help="the first N of the fixed selection (capitals by population first)"
    )
    which.add_argument("--ids", type=_ids_arg, help="comma-separated IBGE codes")
    c.add_argument("--days", type=int, default=730)
    c.add_argument("--end", type=date.fromisoformat, help="last day of the window (default yesterday)")
    c.add_argument("--per-day", type=float)
    c.add_argument("--seed", type=int)
    a = sub.add_parser("add-day", help="append one day's records")
    a.add_argument("--date", type=date.fromisoformat, required=True)
    a.add_argument("--ids", type=_ids_arg, help="default: every existing pec_ database")
    a.add_argument("--per-day", type=float)
    d = sub.add_parser("drop", help="drop PEC databases")
    dw = d.add_mutually_exclusive_group(required=True)
    dw.add_argument("--all", action="store_true", help="every pec_ database, the template and the role")
    dw.add_argument("--ids", type=_ids_arg)
    sub.add_parser("list", help="IBGE codes of the existing PEC databases")
    args = parser.parse_args(argv)

    from mirante import db

    srv = db.server()
    if args.cmd == "create":
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            parser.error(f"set {PASSWORD_ENV} to the password of role {SOURCE_ROLE}")
        ids = args.ids or selection(args.n)
        kw = {
            k: v
            for k, v in (
                ("days", args.days),
                ("end", args.end),
                ("per_day", args.per_day),
                ("seed", args.seed),
            )
            if v is not None
        }
        t0 = time.perf_counter()
        result = create_many(srv, ids, password, **kw)
        for i, counts in result.items():
            print(
                f"{database_name(i)}: {sum(counts.values())} rows "
                f"({', '.join(f'{t}={n}' for t, n in counts.items() if t in FACT_TABLES)})"
            )
        print(
            f"{len(result)} databases in {time.perf_counter() - t0:.1f}s; loader URLs: "
            f"postgresql://{SOURCE_ROLE}:${PASSWORD_ENV}@{srv.host}:{srv.port}/{DB_PREFIX}<id>"
        )
    elif args.cmd == "add-day":
        ids = args.ids or list_municipios(srv)
        for i in ids:
            counts = add_day(srv, i, args.date, args.per_day)
            print(f"{database_name(i)} {args.date}: " + ", ".join(f"{t}={n}" for t, n in counts.items()))
    elif args.cmd == "drop":
        if args.all:
            dropped = drop_all(srv)
        else:
            dropped = args.ids
            for i in dropped:
                drop_municipio(srv, i)
        print(f"dropped {len(dropped)} databases")
    else:
        for i in list_municipios(srv):
            print(i)
    return 0


if __name__ == "__main__":
    sys.exit(main())
