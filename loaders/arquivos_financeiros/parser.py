"""Parsers of the finance history files: bank statements (CSV as Brazilian banks export them) and
past invoices (JSON arrays). Pure functions of a file's bytes: no database, no dlt.

Statements: Latin-1, ';' separated, a few `key;value` header lines (Banco, Agência, Conta,
Período), then the column line `Data;Histórico;Documento;Valor (R$);Saldo (R$)` and one line per
entry: dates dd/MM/yyyy, values with a decimal comma and dots between thousands (`-1.234,56`).
Invoices: a UTF-8 JSON array of objects (numero, cliente {cnpj, nome}, emissao, vencimento, valor,
situacao, pago_em); numbers are read as Decimal, never float.

A malformed row goes to the quarantine with a reason code, a detail and its raw text, and the rest
of the file loads; a file that cannot be read at all (no statement header, not a JSON array) is one
quarantine row at line 0 and loads nothing. History files are small (a month of one account, a
month of invoices): each is read whole.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .settings import KIND_BY_SUFFIX, STATEMENT_DELIMITER, STATEMENT_ENCODING

#: `1.234,56`, `-0,10`, `1234,56`: a Brazilian amount, always two decimals
_BRL = re.compile(r"^(-)?(\d{1,3}(?:\.\d{3})+|\d+),(\d{2})$")
#: the statement's column line, after normalization (lower case, accents kept as exported)
_COLUMNS = ("data", "histórico", "documento", "valor (r$)", "saldo (r$)")
#: header labels -> the file's metadata keys
_HEADER = {"banco": "banco", "agência": "agencia", "conta": "conta", "período": "periodo"}
SITUACOES = ("aberta", "paga", "cancelada")


@dataclass
class Quarantined:
    linha: int
    motivo: str
    detalhe: str
    conteudo: str


@dataclass
class ParsedFile:
    """One file read: its rows, its quarantine and what `arquivos` records of it."""

    name: str
    kind: str
    sha256: str
    size: int
    rows: list[dict] = field(default_factory=list)
    quarantine: list[Quarantined] = field(default_factory=list)
    header: dict[str, str] = field(default_factory=dict)
    lines_read: int = 0


def parse_brl(text: str) -> Decimal:
    """`-1.234,56` -> Decimal('-1234.56'); ValueError for anything else."""
    m = _BRL.match(text.strip())
    if not m:
        raise ValueError(f"not a Brazilian amount: {text!r}")
    sign, whole, cents = m.groups()
    return Decimal(f"{sign or ''}{whole.replace('.', '')}.{cents}")


def parse_date_br(text: str) -> date:
    """`31/01/2025` -> date(2025, 1, 31); ValueError for anything else."""
    if not re.fullmatch(r"\d{2}/\d{2}/\d{4}", text.strip()):
        raise ValueError(f"not a dd/MM/yyyy date: {text!r}")
    return datetime.strptime(text.strip(), "%d/%m/%Y").date()


def kind_of(path: Path) -> str | None:
    return KIND_BY_SUFFIX.get(path.suffix.lower())


def parse_file(path: str | Path) -> ParsedFile:
    path = Path(path)
    data = path.read_bytes()
    parsed = ParsedFile(
        name=path.name, kind=kind_of(path) or "", sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    if parsed.kind == "extrato":
        _parse_statement(data, parsed)
    elif parsed.kind == "faturas":
        _parse_invoices(data, parsed)
    else:
        raise ValueError(f"{path.name}: not a statement (*.csv) nor an invoice file (*.json)")
    return parsed


def _parse_statement(data: bytes, out: ParsedFile) -> None:
    lines = data.decode(STATEMENT_ENCODING).splitlines()
    out.lines_read = len(lines)
    start = None
    for i, line in enumerate(lines):
        fields = [f.strip() for f in line.split(STATEMENT_DELIMITER)]
        if tuple(f.lower() for f in fields) == _COLUMNS:
            start = i + 1
            break
        if len(fields) >= 2 and fields[0].rstrip(":").lower() in _HEADER:
            out.header[_HEADER[fields[0].rstrip(":").lower()]] = fields[1]
    missing = [k for k in ("agencia", "conta") if not out.header.get(k)]
    if start is None or missing:
        reason = "sem a linha de colunas Data;Histórico;Documento;Valor (R$);Saldo (R$)"
        if start is not None:
            reason = f"cabeçalho sem {', '.join(missing)}"
        out.quarantine.append(Quarantined(0, "cabecalho_invalido", reason, "\n".join(lines[:8])))
        return
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        row, problem = _statement_row(line)
        if problem:
            out.quarantine.append(Quarantined(number, *problem, line))
            continue
        out.rows.append(
            {
                "arquivo": out.name,
                "linha": number,
                "banco": out.header.get("banco"),
                "agencia": out.header["agencia"],
                "conta": out.header["conta"],
                **row,
            }
        )


def _statement_row(line: str) -> tuple[dict, tuple[str, str] | None]:
    fields = next(csv.reader([line], delimiter=STATEMENT_DELIMITER))
    if len(fields) != len(_COLUMNS):
        return {}, ("colunas_incorretas", f"{len(fields)} campos, esperados {len(_COLUMNS)}")
    data_, historico, documento, valor, saldo = (f.strip() for f in fields)
    try:
        day = parse_date_br(data_)
    except ValueError:
        return {}, ("data_invalida", f"data {data_!r} não é dd/MM/aaaa")
    if not historico:
        return {}, ("historico_vazio", "lançamento sem histórico")
    try:
        amount = parse_brl(valor)
    except ValueError:
        return {}, ("valor_invalido", f"valor {valor!r} não é um valor em reais (1.234,56)")
    balance = None
    if saldo:
        try:
            balance = parse_brl(saldo)
        except ValueError:
            return {}, ("saldo_invalido", f"saldo {saldo!r} não é um valor em reais (1.234,56)")
    return {
        "data": day,
        "historico": historico,
        "documento": documento or None,
        "valor": amount,
        "saldo": balance,
    }, None


def _parse_invoices(data: bytes, out: ParsedFile) -> None:
    try:
        items = json.loads(data.decode("utf-8-sig"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        out.quarantine.append(Quarantined(0, "json_invalido", str(exc)[:300], data[:500].decode("latin-1")))
        return
    if not isinstance(items, list):
        out.quarantine.append(
            Quarantined(0, "json_invalido", "o arquivo não é uma lista JSON", data[:500].decode("latin-1"))
        )
        return
    out.lines_read = len(items)
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        raw = json.dumps(item, ensure_ascii=False, default=str)
        row, problem = _invoice_row(item)
        if problem is None and row["numero"] in seen:
            problem = ("numero_repetido", f"fatura {row['numero']} repetida no arquivo")
        if problem:
            out.quarantine.append(Quarantined(position, *problem, raw))
            continue
        seen.add(row["numero"])
        out.rows.append({"arquivo": out.name, "linha": position, **row})


def _iso_date(value) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(value)
    return date.fromisoformat(value)


def _invoice_row(item) -> tuple[dict, tuple[str, str] | None]:
    if not isinstance(item, dict):
        return {}, ("registro_invalido", "o item não é um objeto JSON")
    numero = item.get("numero")
    if not isinstance(numero, str) or not numero.strip():
        return {}, ("numero_ausente", "fatura sem número")
    cliente = item.get("cliente")
    if not isinstance(cliente, dict) or not cliente.get("cnpj"):
        return {}, ("cliente_ausente", "fatura sem cliente (cnpj)")
    dates = {}
    for key in ("emissao", "vencimento"):
        try:
            dates[key] = _iso_date(item.get(key))
        except ValueError:
            return {}, ("data_invalida", f"{key} {item.get(key)!r} não é aaaa-mm-dd")
    if dates["vencimento"] < dates["emissao"]:
        return {}, ("vencimento_antes_emissao", "vencimento anterior à emissão")
    valor = item.get("valor")
    if isinstance(valor, bool) or not isinstance(valor, int | Decimal):
        return {}, ("valor_invalido", f"valor {valor!r} não é um número")
    try:
        cents = Decimal(valor).quantize(Decimal("0.01"))
    except InvalidOperation:
        return {}, ("valor_invalido", f"valor {valor} fora do intervalo")
    if cents != valor:
        return {}, ("valor_invalido", f"valor {valor} tem mais de duas casas decimais")
    valor = cents
    if valor <= 0:
        return {}, ("valor_invalido", f"valor {valor} não é positivo")
    situacao = item.get("situacao")
    if situacao not in SITUACOES:
        return {}, ("situacao_invalida", f"situação {situacao!r} fora de {', '.join(SITUACOES)}")
    pago_em = None
    if situacao == "paga":
        try:
            pago_em = _iso_date(item.get("pago_em"))
        except ValueError:
            return {}, ("pagamento_sem_data", f"fatura paga com pago_em {item.get('pago_em')!r}")
    return {
        "numero": numero.strip(),
        "cnpj_cliente": str(cliente["cnpj"]),
        "nome_cliente": cliente.get("nome"),
        "data_emissao": dates["emissao"],
        "data_vencimento": dates["vencimento"],
        "valor": valor,
        "situacao": situacao,
        "data_pagamento": pago_em,
    }, None
