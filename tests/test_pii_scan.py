"""No personal data leaves raw_esus: every value of every column of every table in schema `marts`
(read as mirante_reader, as any consumer would) and of every e-SUS staging / intermediate view (as
the transformer) is scanned for

- a valid CNS: 15 digits passing `pec.cns_valido` (also written "898 0044 5526 0000");
- a valid CPF: 11 digits passing `pec.cpf_valido`, alone or inside a longer text, also written
  "123.456.789-09" (and a 10-digit integer, a CPF that lost its leading zero);
- a full fictitious person name: a first name of the emulator's lists (`pec.data.NOMES_*`), then
  optional second names / particles, then a surname (`pec.data.SOBRENOMES`): every name the PEC
  emulator can generate, in any case and with or without accents; the names of the commercial
  world's contacts (`emulators/comercial.py`, CRM) too;
- an e-mail address and a phone number written as phones are ("+55 11 91234-5678", "(11) 3456-7890"):
  the contact data of CRM contacts;
- infrastructure ('infra'): what a raw error message names and a published table must not: an IP
  address, a connection URL, "host"/"port"/"user"/"database" followed by a value, the login roles
  of the sources and of Mirante, the PEC databases' names (pec_<IBGE code>). Marts carry an error
  kind and a short code (loaders/esus/failures.py), never the message.

Municipality names that look like a person's name ("Paulo Ramos", "Joaquim Pires") are masked
first: they appear in place names (dim_municipio, SNIS provider names), not as people. A value
that is a 64-character hex digest (the person key id_pessoa_hash) is not a document in clear.

The detector is unit-tested on planted values (no server). The scans need the marts of the whole
graph (`built` fixture): the e-SUS marts must exist and hold rows, or the test fails.
"""

from __future__ import annotations

import csv
import random
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import psycopg
import pytest
from psycopg import sql

from mirante import config
from mirante.emulators import arquivos_financeiros as F
from mirante.emulators import comercial as C
from mirante.emulators import pec
from mirante.emulators.pec import cns_valido, cpf_valido
from mirante.emulators.pec import data as D

#: the marts of dbt_project/models/marts/atencao_primaria: the scan must have read each of them
ESUS_MARTS = (
    "fct_atendimento_individual_diario",
    "agg_vacinacao_dose_mes",
    "agg_visita_domiciliar_mes",
    "agg_cidadaos_cadastrados_municipio",
    "agg_esus_pontualidade_municipio",
    "agg_esus_volume_diario",
)
#: the e-SUS views that stand between raw_esus and the marts (schema, name prefix)
ESUS_VIEWS = (("staging", "stg_esus__"), ("intermediate", "int_atencao_primaria__"))
#: the finance views: statements name people ("Pix recebido - João ..."), the ledger's customers
#: and the stream's counterparts include persons with a CPF
FINANCE_VIEWS = (
    ("staging", "stg_arquivos_financeiros__"),
    ("staging", "stg_razao__"),
    ("staging", "stg_eventos_pagamento__"),
    ("intermediate", "int_financas__"),
)


# --------------------------------------------------------------------------------------------
# the detector


def _norm(text: str) -> str:
    """Upper case, no accents, every run of non-letters/digits as one space."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", text).split())


def _alt(words) -> str:
    return "|".join(sorted({re.escape(_norm(w)) for w in words}, key=len, reverse=True))


#: the people of the finance history files (emulators/arquivos_financeiros.py): first name, surname
_PESSOAS_FINANCAS = [n.split() for n in F.PESSOAS]
_PRIMEIROS = [*D.NOMES_FEMININOS, *D.NOMES_MASCULINOS, *C._PRIMEIROS, *(n[0] for n in _PESSOAS_FINANCAS)]
_MEIOS = [
    *_PRIMEIROS,
    *D.PARTICULAS,
    "das",
    *(t for n in (*D.SEGUNDOS_NOMES_FEMININOS, *D.SEGUNDOS_NOMES_MASCULINOS) for t in n.split()),
]
#: a first name, optional second names / particles, a surname (on _norm text)
NOME_PESSOA = re.compile(
    rf"\b(?:{_alt(_PRIMEIROS)})(?: (?:{_alt(_MEIOS)}))* (?:{_alt([*D.SOBRENOMES, *C._NOMES, *(n[-1] for n in _PESSOAS_FINANCAS)])})\b"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_TELEFONE = re.compile(r"(?<![0-9])(?:\+55 ?)?\(?[1-9][0-9]\)? ?9?[0-9]{4}-[0-9]{4}(?![0-9])")

_DIGITOS = re.compile(r"(?<![0-9])[0-9]+(?![0-9])")
_CPF_FORMATADO = re.compile(r"(?<![0-9])[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}(?![0-9])")
_CNS_FORMATADO = re.compile(r"(?<![0-9])[0-9]{3} [0-9]{4} [0-9]{4} [0-9]{4}(?![0-9])")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_INFRA = re.compile(
    r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])"  # an IPv4 address
    r"|[a-z][a-z0-9+.-]*://"  # a URL (postgresql://, http://)
    r"|\b(?:host|port|user|database|dbname)\b\s*[=:\"]?\s*\"?[A-Za-z0-9_.-]+"
    r"|\b(?:porta|usu[aá]rio|banco)\s*[=:]\s*\S+"
    r"|\bpec_leitura\b|\bmirante_(?:loader|transformer|reader|api)\b|\bpec_[0-9]{7}\b"
    r"|\blocalhost\b|\.mirante/|/run/|\bsocket\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _lugares_com_nome_de_pessoa() -> re.Pattern | None:
    """Municipality names (IBGE reference list) that the person-name pattern would flag."""
    path = config.shared_data_dir() / "reference" / "municipios.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        nomes = {_norm(r["nome"]) for r in csv.DictReader(fh)}
    lugares = sorted((n for n in nomes if NOME_PESSOA.search(n)), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, lugares)) + r")\b") if lugares else None


def achados(valor: object) -> list[str]:
    """What personal data `valor` holds in clear: a list of 'cns' / 'cpf' / 'email' / 'nome' /
    'telefone' (empty: none)."""
    if valor is None or isinstance(valor, bool):
        return []
    if isinstance(valor, Decimal):
        if valor != valor.to_integral_value():
            return []
        valor = int(valor)
    if isinstance(valor, int):
        texto = str(abs(valor))
        candidatos = [texto] + (["0" + texto] if len(texto) == 10 else [])
        out = []
        if any(len(c) == 15 and cns_valido(c) for c in candidatos):
            out.append("cns")
        if any(len(c) == 11 and cpf_valido(c) for c in candidatos):
            out.append("cpf")
        return out
    if not isinstance(valor, str):
        return []  # dates, timestamps, floats cannot spell a document or a name
    if _DIGEST.fullmatch(valor.strip()):
        return []  # a keyed hash (id_pessoa_hash), not a document
    out = []
    numeros = _DIGITOS.findall(valor)
    if any(len(n) == 15 and cns_valido(n) for n in numeros) or any(
        cns_valido(m.replace(" ", "")) for m in _CNS_FORMATADO.findall(valor)
    ):
        out.append("cns")
    if any(len(n) == 11 and cpf_valido(n) for n in numeros) or any(
        cpf_valido(m) for m in _CPF_FORMATADO.findall(valor)
    ):
        out.append("cpf")
    if _EMAIL.search(valor):
        out.append("email")
    texto = _norm(valor)
    lugares = _lugares_com_nome_de_pessoa()
    if lugares is not None:
        texto = lugares.sub(" ", texto)
    if NOME_PESSOA.search(texto):
        out.append("nome")
    if _TELEFONE.search(valor):
        out.append("telefone")
    if _INFRA.search(valor):
        out.append("infra")
    return out


def _mascara(valor: object) -> str:
    """A finding for the report without repeating the personal data."""
    s = str(valor)
    return f"{s[:2]}…({len(s)} chars)"


# --------------------------------------------------------------------------------------------
# the scan


@dataclass
class Varredura:
    linhas: dict[str, int]  # rows read per relation
    valores: int  # non-null values checked
    achados: list[tuple[str, str, str, str]]  # (relation, column, kind, masked value)


def varrer(url: str, relacoes: list[tuple[str, str]]) -> Varredura:
    """Read every row of each (schema, relation) and check every value."""
    out = Varredura({}, 0, [])
    with psycopg.connect(url) as conn:
        for schema, nome in relacoes:
            rel = f"{schema}.{nome}"
            out.linhas[rel] = 0
            with conn.cursor(name=f"varredura_{nome}") as cur:  # server-side: streams big tables
                cur.execute(
                    sql.SQL("select * from {}.{}").format(sql.Identifier(schema), sql.Identifier(nome))
                )
                colunas = None
                for linha in cur:
                    colunas = colunas or [d.name for d in cur.description]
                    out.linhas[rel] += 1
                    for coluna, valor in zip(colunas, linha, strict=False):
                        if valor is None:
                            continue
                        out.valores += 1
                        for tipo in achados(valor):
                            out.achados.append((rel, coluna, tipo, _mascara(valor)))
    return out


def _relacoes(url: str, schema: str, prefixo: str = "") -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select table_name from information_schema.tables
               where table_schema = %s and table_name like %s order by table_name""",
            (schema, prefixo.replace("_", r"\_") + "%"),
        ).fetchall()
    return [(schema, r[0]) for r in rows]


def _relatorio(v: Varredura, limite: int = 30) -> str:
    linhas = [f"  {rel}.{col}: {tipo} em {amostra}" for rel, col, tipo, amostra in v.achados[:limite]]
    resto = len(v.achados) - limite
    return "\n".join(linhas + ([f"  ... e mais {resto}"] if resto > 0 else []))


# --------------------------------------------------------------------------------------------
# unit tests of the detector (no server)


def test_detector_catches_planted_documents_and_names():
    rng = random.Random(20261126)
    cns_def, cns_prov = pec.gerar_cns(rng), pec.gerar_cns(rng, provisorio=True)
    cpf = pec.gerar_cpf(rng)
    cpf_zero = next(c for c in (pec.gerar_cpf(rng) for _ in range(1000)) if c[0] == "0")
    assert cns_valido(cns_def) and cns_valido(cns_prov) and cpf_valido(cpf) and cpf_valido(cpf_zero)

    plantados = {
        cns_def: ["cns"],
        cns_prov: ["cns"],
        int(cns_def): ["cns"],
        f"{cns_prov[:3]} {cns_prov[3:7]} {cns_prov[7:11]} {cns_prov[11:]}": ["cns"],
        cpf: ["cpf"],
        int(cpf_zero): ["cpf"],  # a bigint column would drop the leading zero
        Decimal(cpf): ["cpf"],
        f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}": ["cpf"],
        f"erro na ficha do cidadão cpf={cpf}, linha 12": ["cpf"],
        f"{cpf};{cns_def}": ["cns", "cpf"],
        "MARIA APARECIDA DA SILVA": ["nome"],
        "JOSÉ DOS SANTOS": ["nome"],
        "Ana Costa Lima": ["nome"],
        "joao de souza": ["nome"],
        "Atendido: ANTÔNIO CARLOS GONÇALVES, retorno em 30 dias": ["nome"],
        # what raw error messages say, and a mart must not
        'connection failed: password authentication failed for user "pec_leitura"': ["infra"],
        'connection to server at "127.0.0.1", port 48553 failed: Connection refused': ["infra"],
        'database "pec_2704302" does not exist': ["infra"],
        "postgresql://mirante_loader:***@db.example:5432/mirante": ["infra"],
        "could not translate host name db.prefeitura.gov.br": ["infra"],
    }
    for valor, esperado in plantados.items():
        assert sorted(achados(valor)) == esperado, valor

    limpos = [
        "UBS SANTA LUZIA",
        "ESF SAO JOSE II",
        "USF NOSSA SENHORA APARECIDA",
        "CENTRO DE SAUDE BOM JESUS",
        "Vacina BCG",
        "Médico da estratégia de saúde da família",
        "Agente comunitário de saúde",
        "Prefeitura Municipal de Paulo Ramos",
        "Joaquim Pires",
        "João Pessoa",
        "Maceió",
        "conexao_recusada",
        "autenticacao",
        "tempo_esgotado",
        "transitorio",
        "permanente",
        "interrompido",
        "Data de referência do atraso",
        "10.5",
        "1.2.3",
        "v1.13.27",
        "Banco do Brasil",
        "PORTO SEGURO",
        "2704302",
        2704302,
        "0005687107",
        5687107,
        "225142",
        "2026-11-25",
        12345,
        Decimal("14.29"),
        cns_def[:-1] + str((int(cns_def[-1]) + 1) % 10),  # a wrong check digit
        cpf[:-1] + str((int(cpf[-1]) + 1) % 10),
        "11111111111",  # all digits equal: not a CPF
        f"x{cpf}0",  # 12 digits: not a CPF
        "d3b07384d113edec49eaa6238ad5ff00d3b07384d113edec49eaa6238ad5ff00",  # a digest
        "MARIA",
        "SILVA",
        "SANTOS",
        None,
        True,
        3.5,
    ]
    for valor in limpos:
        assert achados(valor) == [], valor


def test_detector_flags_the_contact_data_of_the_commercial_world():
    """Every CRM contact's person name, e-mail and phone (emulators/comercial.py) is caught; the
    company names and the commercial figures are not."""
    lugares = _lugares_com_nome_de_pessoa()
    for c in C.Mundo().clientes:
        # a name that is also a municipality's ("João Costa", PI) is masked like the place
        if not (lugares and lugares.fullmatch(_norm(c.contato))):
            assert achados(c.contato) == ["nome"], c.contato
        assert achados(c.email) == ["email"]
        assert achados(c.telefone) == ["telefone"]
        assert achados(c.razao_social) == [], c.razao_social
    assert achados("(82) 3326-1020") == ["telefone"] and achados("Contato: ana@empresa.com.br") == ["email"]
    for limpo in (
        "2025-11-26",
        "2025-11-26T17:30:00-03:00",
        "C00042",
        "loja",
        "representante",
        "SP",
        "Informática",
        Decimal("8491801.45"),
        1778,
        "Notebook 14 polegadas",
        "14:03:00",
    ):
        assert achados(limpo) == [], limpo


def test_detector_flags_every_name_and_document_the_emulator_generates():
    """The emulator's own generator (professionals of a municipality: name and CNS) is caught."""
    mundo = pec.build_world("2704302", pec.default_seed("2704302"))
    assert mundo.profissionais
    for p in mundo.profissionais:
        assert "nome" in achados(p.nome), p.nome
        assert "cns" in achados(p.cns)
    rng = random.Random(7)
    for _ in range(200):
        assert achados(pec.gerar_cpf(rng)) == ["cpf"]
        assert achados(pec.gerar_cns(rng, provisorio=rng.random() < 0.5)) == ["cns"]


# --------------------------------------------------------------------------------------------
# the scans (whole graph built)


@pytest.mark.integration
def test_detector_recognizes_the_documents_in_raw_esus(built):
    """Positive control on the real source: the CNS and CPF loaded into raw_esus are flagged."""
    with psycopg.connect(built.url("transformer")) as conn:
        rows = conn.execute(
            "select nu_cns, nu_cpf_cidadao from raw_esus.tb_fat_cidadao_pec limit 500"
        ).fetchall()
    cns = [c for c, _ in rows if c and c.strip()]
    cpfs = [c for _, c in rows if c and c.strip()]
    assert cns and cpfs, "raw_esus.tb_fat_cidadao_pec holds no CNS/CPF: was the e-SUS pull run?"
    assert all("cns" in achados(c) for c in cns)
    assert all("cpf" in achados(c) for c in cpfs)


@pytest.mark.integration
def test_marts_hold_no_personal_data(built):
    """Every table of schema marts, as the reader role: no CNS, CPF or person name anywhere."""
    url = built.url("reader")
    relacoes = _relacoes(url, config.MARTS_SCHEMA)
    nomes = {n for _, n in relacoes}
    faltando = [m for m in ESUS_MARTS if m not in nomes]
    assert not faltando, f"e-SUS marts missing from schema marts (dbt build of atencao_primaria?): {faltando}"

    v = varrer(url, relacoes)

    vazios = [m for m in ESUS_MARTS if v.linhas[f"{config.MARTS_SCHEMA}.{m}"] == 0]
    assert not vazios, f"e-SUS marts without rows, the scan proves nothing on them: {vazios}"
    assert v.valores > 0
    assert not v.achados, "personal data in clear in the marts:\n" + _relatorio(v)


@pytest.mark.integration
def test_esus_staging_and_intermediate_hold_no_documents(built):
    """The e-SUS views the marts are built from (as the transformer): CNS and CPF are already
    replaced by id_pessoa_hash in staging."""
    url = built.url("transformer")
    relacoes = [r for schema, prefixo in ESUS_VIEWS for r in _relacoes(url, schema, prefixo)]
    assert len(relacoes) >= 10, f"e-SUS staging/intermediate views missing: {relacoes}"

    v = varrer(url, relacoes)

    assert sum(v.linhas.values()) > 0 and v.valores > 0
    assert not v.achados, "personal data in clear in e-SUS staging/intermediate:\n" + _relatorio(v)


@pytest.mark.integration
def test_finance_views_hold_no_personal_data(built):
    """The finance views the marts are built from (as the transformer): the statements' people are
    in raw (positive control) and cut away in staging; CPFs of customers and counterparts are
    hashed."""
    url = built.url("transformer")
    with psycopg.connect(url) as conn:
        historicos = [
            h for (h,) in conn.execute("select historico from raw_arquivos_financeiros.extratos limit 2000")
        ]
    com_pessoa = [h for h in historicos if "nome" in achados(h)]
    assert com_pessoa, "no person's name in raw_arquivos_financeiros.extratos: the control proves nothing"

    relacoes = [r for schema, prefixo in FINANCE_VIEWS for r in _relacoes(url, schema, prefixo)]
    assert len(relacoes) >= 8, f"finance staging/intermediate views missing: {relacoes}"
    v = varrer(url, relacoes)

    assert sum(v.linhas.values()) > 0 and v.valores > 0
    assert not v.achados, "personal data in clear in finance staging/intermediate:\n" + _relatorio(v)
