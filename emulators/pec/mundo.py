"""The static world of one municipality: health units, family-health teams and professionals (a
pure function of the IBGE code and seed), and the dimension rows made from it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from mirante.emulators.pec import data as D
from mirante.emulators.pec.documents import gerar_cns
from mirante.emulators.pec.reference import _estados, _filtro, _municipios, _sem_acento


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
