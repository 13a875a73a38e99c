"""Finance history files (loaders/arquivos_financeiros): Latin-1 bank statements and JSON invoices
parsed exactly, malformed rows quarantined, a checksum per file, reloads that add nothing, a file
replaced under the same name, the folder's sensor and the staging models, on the real PostgreSQL
(a database of this module's own)."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

from mirante.emulators import arquivos_financeiros as gen
from mirante.loaders import arquivos_financeiros
from mirante.loaders.arquivos_financeiros.parser import parse_brl, parse_file

from .helpers import own_database, reset_raw

DATABASE = "mirante_test_arquivos_financeiros"
PIPELINE = "arquivos_financeiros_test"
SCHEMA = "raw_arquivos_financeiros"

#: a statement as a Brazilian bank exports it, written by hand: Latin-1, ';', decimal comma
STATEMENT = (
    "Banco;Banco do Brasil S.A.\r\n"
    "Agência;1234-5\r\n"
    "Conta;56789-0\r\n"
    "Período;01/03/2025 a 31/03/2025\r\n"
    "\r\n"
    "Data;Histórico;Documento;Valor (R$);Saldo (R$)\r\n"
    "03/03/2025;Pix recebido - João Conceição;PIX1;1.234,56;11.234,56\r\n"
    "04/03/2025;Pagamento de boleto - Açougue Boa Esperança;BLT2;-0,10;11.234,46\r\n"
    "05/03/2025;TED recebida - Construtora Aliança;TED3;12.345.678,90;12.356.913,36\r\n"
    "06/03/2025;Tarifa pacote de serviços;TAR4;-89,90;\r\n"
    "31/02/2025;Pix recebido - data impossível;PIX5;100,00;\r\n"
    "07/03/2025;Pix recebido - ponto decimal;PIX6;1,234.56;\r\n"
    "07/03/2025;TED recebida;TED7\r\n"
)
INVOICES = """[
  {"numero": "NF-1", "cliente": {"cnpj": "12.345.678/0001-90", "nome": "Padaria São João"},
   "emissao": "2025-03-01", "vencimento": "2025-03-31", "valor": 0.10, "situacao": "aberta"},
  {"numero": "NF-2", "cliente": {"cnpj": "12.345.678/0001-90", "nome": "Padaria São João"},
   "emissao": "2025-03-01", "vencimento": "2025-03-31", "valor": 0.20, "situacao": "paga",
   "pago_em": "2025-03-20"},
  {"numero": "NF-3", "cliente": {"cnpj": "23.456.789/0001-01", "nome": "Açougue"},
   "emissao": "2025-03-02", "vencimento": "2025-04-01", "valor": 1234567.89, "situacao": "cancelada"},
  {"numero": "NF-4", "cliente": {"cnpj": "23.456.789/0001-01"},
   "emissao": "2025-03-02", "vencimento": "2025-04-01", "valor": "1.234,56", "situacao": "aberta"},
  {"numero": "NF-1", "cliente": {"cnpj": "12.345.678/0001-90"},
   "emissao": "2025-03-01", "vencimento": "2025-03-31", "valor": 5, "situacao": "aberta"},
  {"numero": "NF-5", "cliente": {"cnpj": "23.456.789/0001-01"},
   "emissao": "2025-03-02", "vencimento": "2025-04-01", "valor": 7.5, "situacao": "paga"}
]"""


def write_statement(folder: Path, name: str = "extrato_bb_2025-03.csv", text: str = STATEMENT) -> Path:
    path = folder / name
    path.write_bytes(text.encode("latin-1"))
    return path


def write_invoices(folder: Path, name: str = "faturas_2025-03.json", text: str = INVOICES) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- parsing (no database) ------------------------------------------------------------------------


def test_latin1_semicolons_and_decimal_commas_are_read_exactly(tmp_path):
    raw = write_statement(tmp_path).read_bytes()
    assert "Agência".encode("latin-1") in raw and "Agência".encode() not in raw  # really Latin-1
    parsed = parse_file(tmp_path / "extrato_bb_2025-03.csv")
    assert parsed.header == {
        "banco": "Banco do Brasil S.A.",
        "agencia": "1234-5",
        "conta": "56789-0",
        "periodo": "01/03/2025 a 31/03/2025",
    }
    assert [r["valor"] for r in parsed.rows] == [
        Decimal("1234.56"),
        Decimal("-0.10"),
        Decimal("12345678.90"),
        Decimal("-89.90"),
    ]
    assert all(isinstance(r["valor"], Decimal) for r in parsed.rows)
    assert parsed.rows[0]["historico"] == "Pix recebido - João Conceição"
    assert parsed.rows[0]["linha"] == 7 and str(parsed.rows[0]["data"]) == "2025-03-03"
    assert parsed.rows[3]["saldo"] is None  # the bank left the balance out
    assert [(q.linha, q.motivo) for q in parsed.quarantine] == [
        (11, "data_invalida"),
        (12, "valor_invalido"),
        (13, "colunas_incorretas"),
    ]
    assert parsed.quarantine[1].conteudo == "07/03/2025;Pix recebido - ponto decimal;PIX6;1,234.56;"


@pytest.mark.parametrize("text", ["1,234.56", "1.234,5", "12,345", "1.23,45", "", "R$ 1,00", "1.234"])
def test_what_is_not_a_brazilian_amount_is_refused(text):
    with pytest.raises(ValueError):
        parse_brl(text)


def test_invoices_are_decimal_and_bad_ones_quarantined_with_a_reason(tmp_path):
    parsed = parse_file(write_invoices(tmp_path))
    assert [(r["numero"], r["valor"]) for r in parsed.rows] == [
        ("NF-1", Decimal("0.10")),
        ("NF-2", Decimal("0.20")),
        ("NF-3", Decimal("1234567.89")),
    ]
    assert sum(r["valor"] for r in parsed.rows) == Decimal("1234568.19")
    assert [(q.linha, q.motivo) for q in parsed.quarantine] == [
        (4, "valor_invalido"),
        (5, "numero_repetido"),
        (6, "pagamento_sem_data"),
    ]
    assert json.loads(parsed.quarantine[0].conteudo)["valor"] == "1.234,56"


def test_a_file_that_cannot_be_read_is_one_quarantine_row(tmp_path):
    (tmp_path / "a.json").write_text('{"numero": "NF-1"}', encoding="utf-8")
    (tmp_path / "b.json").write_text("[{", encoding="utf-8")
    (tmp_path / "c.csv").write_bytes("Data;Histórico;Documento;Valor (R$);Saldo (R$)\r\n".encode("latin-1"))
    for name, reason in (
        ("a.json", "json_invalido"),
        ("b.json", "json_invalido"),
        ("c.csv", "cabecalho_invalido"),
    ):
        parsed = parse_file(tmp_path / name)
        assert parsed.rows == [] and [(q.linha, q.motivo) for q in parsed.quarantine] == [(0, reason)]


def test_a_missing_or_empty_folder_fails_the_load_naming_it(tmp_path):
    from mirante.loaders.arquivos_financeiros import _select, list_files

    (tmp_path / "notas.txt").write_text("not a history file")
    assert list_files(tmp_path / "nowhere") == [] and list_files(tmp_path) == []
    for folder in (tmp_path, tmp_path / "nowhere"):
        with pytest.raises(FileNotFoundError, match=re.escape(str(folder))):
            _select(folder, None)


def test_the_generator_is_deterministic_latin1_and_malformed_on_demand(tmp_path):
    a = gen.generate(tmp_path / "a", seed=3, meses=2, contas=2)
    b = gen.generate(tmp_path / "b", seed=3, meses=2, contas=2)
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 2 * 2 + 2
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    statements = [p for p in a if p.suffix == ".csv"]
    body = b"".join(p.read_bytes() for p in statements)
    assert "ç".encode("latin-1") in body and "ç".encode() not in body
    for kind in (b"Pix recebido", b"TED ", b"boleto", b"Tarifa"):
        assert kind in body, kind
    clean = [parse_file(p) for p in a]
    assert all(not f.quarantine and f.rows for f in clean)
    bad = [parse_file(p) for p in gen.generate(tmp_path / "c", seed=3, meses=2, contas=2, malformados=3)]
    assert all(len(f.quarantine) == 3 for f in bad)
    # the same good rows, the malformed ones added
    assert [len(f.rows) for f in bad] == [len(f.rows) for f in clean]


# -- loading (real PostgreSQL) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(server):
    with own_database(server, DATABASE) as srv:
        yield srv


@pytest.fixture
def raw(srv):
    reset_raw(srv, SCHEMA, (PIPELINE,))
    return srv


def load(folder: Path, files: list[str] | None = None):
    info = arquivos_financeiros.LOADER.load(
        arquivos_financeiros.read_settings(folder),
        pipeline_name=PIPELINE,
        **({"files": files} if files else {}),
    )
    assert not info.has_failed_jobs
    return info


def q(srv, sql: str, *params):
    with psycopg.connect(srv.url("transformer")) as conn:
        return conn.execute(sql, params).fetchall()


#: every column but dlt's own (load id, row id change on every load)
COLUMNS = {
    "extratos": "arquivo, linha, banco, agencia, conta, data, historico, documento, valor, saldo",
    "faturas": "arquivo, linha, numero, cnpj_cliente, nome_cliente, data_emissao, data_vencimento, valor, "
    "situacao, data_pagamento",
    "quarentena": "arquivo, linha, motivo, detalhe, conteudo",
    "arquivos": "arquivo, tipo, sha256, tamanho_bytes, linhas_lidas, linhas_carregadas, linhas_quarentena",
}


def snapshot(srv) -> dict[str, list]:
    return {t: q(srv, f"select {cols} from {SCHEMA}.{t} order by 1, 2") for t, cols in COLUMNS.items()}


@pytest.mark.integration
def test_load_keeps_values_exact_quarantines_bad_rows_and_hashes_each_file(raw, tmp_path):
    write_statement(tmp_path)
    write_invoices(tmp_path)
    load(tmp_path)
    assert q(raw, f"select valor, saldo from {SCHEMA}.extratos order by linha") == [
        (Decimal("1234.56"), Decimal("11234.56")),
        (Decimal("-0.10"), Decimal("11234.46")),
        (Decimal("12345678.90"), Decimal("12356913.36")),
        (Decimal("-89.90"), None),
    ]
    assert q(raw, f"select sum(valor)::text from {SCHEMA}.faturas") == [("1234568.19",)]
    assert q(raw, f"select historico from {SCHEMA}.extratos where linha = 8") == [
        ("Pagamento de boleto - Açougue Boa Esperança",)
    ]
    assert q(raw, f"select arquivo, linha, motivo from {SCHEMA}.quarentena order by 1, 2") == [
        ("extrato_bb_2025-03.csv", 11, "data_invalida"),
        ("extrato_bb_2025-03.csv", 12, "valor_invalido"),
        ("extrato_bb_2025-03.csv", 13, "colunas_incorretas"),
        ("faturas_2025-03.json", 4, "valor_invalido"),
        ("faturas_2025-03.json", 5, "numero_repetido"),
        ("faturas_2025-03.json", 6, "pagamento_sem_data"),
    ]
    # the per-file marker rows (dlt hard_delete) clear old rows and are never inserted
    for table in ("extratos", "faturas", "quarentena"):
        assert q(raw, f"select count(*) from {SCHEMA}.{table} where linha < 0 or _substituir") == [(0,)]
    expected = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    assert q(
        raw,
        f"select arquivo, sha256, tipo, linhas_carregadas, linhas_quarentena from {SCHEMA}.arquivos order by 1",
    ) == [
        ("extrato_bb_2025-03.csv", expected["extrato_bb_2025-03.csv"], "extrato", 4, 3),
        ("faturas_2025-03.json", expected["faturas_2025-03.json"], "faturas", 3, 3),
    ]


@pytest.mark.integration
def test_reloading_adds_nothing_and_a_replaced_file_replaces_its_rows(raw, tmp_path):
    gen.generate(tmp_path, seed=11, meses=2, contas=2, malformados=2)
    load(tmp_path)
    first = snapshot(raw)
    assert len(first["arquivos"]) == 6 and len(first["quarentena"]) == 12
    load(tmp_path)  # the same files again
    load(tmp_path, ["faturas_2025-01.json"])
    assert snapshot(raw) == first
    # the January statement of one account re-exported: fewer lines, one of them changed
    name = sorted(p.name for p in tmp_path.glob("extrato_*2025-01.csv"))[0]
    lines = (tmp_path / name).read_bytes().decode("latin-1").splitlines()
    header = lines.index("Data;Histórico;Documento;Valor (R$);Saldo (R$)")
    kept = [ln for ln in lines[header + 1 :] if parse_ok(ln)][:5]
    kept[0] = kept[0].rsplit(";", 2)[0] + ";9.999,99;"
    (tmp_path / name).write_bytes("\r\n".join(lines[: header + 1] + kept).encode("latin-1"))
    load(tmp_path, [name])
    after = snapshot(raw)
    assert q(raw, f"select count(*), max(valor) from {SCHEMA}.extratos where arquivo = %s", name) == [
        (5, Decimal("9999.99"))
    ]
    # its old quarantine rows went with it; every other file's rows are untouched
    assert q(raw, f"select count(*) from {SCHEMA}.quarentena where arquivo = %s", name) == [(0,)]
    others = [r for r in first["extratos"] if r[0] != name]
    assert [r for r in after["extratos"] if r[0] != name] == others
    assert q(raw, f"select sha256 from {SCHEMA}.arquivos where arquivo = %s", name) == [
        (hashlib.sha256((tmp_path / name).read_bytes()).hexdigest(),)
    ]
    assert len(after["arquivos"]) == 6


def parse_ok(line: str) -> bool:
    from mirante.loaders.arquivos_financeiros.parser import _statement_row

    return _statement_row(line)[1] is None


def _sensor(instance, folder: Path, cursor=None):
    from mirante.orchestration.defs.financas_arquivos import arquivos_financeiros_sensor
    from mirante.orchestration.resources import LoaderSettings, Warehouse

    resources = {
        "warehouse": Warehouse(),
        "arquivos_financeiros": LoaderSettings(
            loader="arquivos_financeiros", overrides={"directory": str(folder)}
        ),
    }
    ctx = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return arquivos_financeiros_sensor(ctx), ctx.cursor


@pytest.mark.integration
def test_the_sensor_asks_only_for_new_or_changed_files(raw, tmp_path):
    from mirante.orchestration.defs.financas_arquivos import ARQUIVOS_OP, FILES_TAG

    files = gen.generate(tmp_path, seed=5, meses=1, contas=2)
    names = sorted(p.name for p in files)
    with DagsterInstance.ephemeral() as instance:
        req, cursor = _sensor(instance, tmp_path)  # nothing loaded yet: every file, one run
        assert isinstance(req, RunRequest)
        assert req.run_config == {"ops": {ARQUIVOS_OP: {"config": {"files": names}}}}
        load(tmp_path, req.run_config["ops"][ARQUIVOS_OP]["config"]["files"])
        skip, cursor = _sensor(instance, tmp_path, cursor)
        assert isinstance(skip, SkipReason)  # everything is in raw: nothing asked
        skip, _ = _sensor(instance, tmp_path)  # a fresh cursor on a loaded database: nothing either
        assert isinstance(skip, SkipReason)
        changed = tmp_path / names[0]
        changed.write_bytes(changed.read_bytes() + b"\r\n")
        gen.generate(tmp_path / "novo", seed=6, meses=1, contas=1)
        (tmp_path / "novo" / "faturas_2025-01.json").rename(tmp_path / "faturas_extra.json")
        req, cursor = _sensor(instance, tmp_path, cursor)
        assert req.run_config["ops"][ARQUIVOS_OP]["config"]["files"] == sorted(
            [names[0], "faturas_extra.json"]
        )
        assert json.loads(req.tags[FILES_TAG])[names[0]] == hashlib.sha256(changed.read_bytes()).hexdigest()


@pytest.mark.integration
def test_staging_keeps_one_row_per_entry_and_per_invoice_across_files(raw, tmp_path):
    from dbt.cli.main import dbtRunner

    from mirante import db
    from mirante.orchestration.resources import DBT_PROJECT_DIR

    gen.generate(tmp_path, seed=9, meses=2, contas=2, malformados=1)
    # February's invoices re-exported with January's too (their status may have moved on): an
    # invoice in two files is one row, the latest file's
    jan = json.loads((tmp_path / "faturas_2025-01.json").read_text(encoding="utf-8"), parse_float=Decimal)
    feb = json.loads((tmp_path / "faturas_2025-02.json").read_text(encoding="utf-8"), parse_float=Decimal)
    load(tmp_path)
    good = [
        f for f in jan if isinstance(f, dict) and f.get("numero") and not f["numero"].startswith("NF-ERR")
    ]
    good[0] = {**good[0], "situacao": "cancelada", "pago_em": None}
    write_invoices(
        tmp_path,
        "faturas_2025-02b.json",
        gen._json(good + [f for f in feb if f.get("numero", "").startswith("NF-0")]),
    )
    load(tmp_path, ["faturas_2025-02b.json"])
    db.export_env(raw)
    dirs = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    result = dbtRunner().invoke(
        [
            "build",
            "--quiet",
            "--select",
            "staging.arquivos_financeiros",
            "--indirect-selection",
            "cautious",
            *dirs,
        ]
    )
    assert result.success, result.exception
    raw_numbers = q(raw, f"select count(distinct numero), count(*) from {SCHEMA}.faturas")[0]
    assert raw_numbers[1] > raw_numbers[0]  # the re-export repeats invoices in raw
    assert q(
        raw, "select count(*), count(distinct numero_fatura) from staging.stg_arquivos_financeiros__faturas"
    ) == [(raw_numbers[0], raw_numbers[0])]
    assert q(
        raw,
        "select situacao, nome_arquivo from staging.stg_arquivos_financeiros__faturas where numero_fatura = %s",
        good[0]["numero"],
    ) == [("cancelada", "faturas_2025-02b.json")]
    assert q(raw, f"select count(*), sum(valor) from {SCHEMA}.extratos") == q(
        raw, "select count(*), sum(valor) from staging.stg_arquivos_financeiros__extratos"
    )
    kinds = {
        k
        for (k,) in q(raw, "select distinct tipo_lancamento from staging.stg_arquivos_financeiros__extratos")
    }
    assert kinds == {"pix", "ted", "boleto", "tarifa"}
