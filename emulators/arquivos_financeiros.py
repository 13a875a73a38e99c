"""Generator of finance history files for the arquivos_financeiros loader: bank statements as
Brazilian banks export them (CSV, ';', decimal comma, Latin-1) and past invoices (JSON arrays).

THE DATA IS SYNTHETIC: there are no real files for this source. Everything comes from a seeded
random generator (same seed, same bytes), in the real shapes: several accounts of a few banks, one
statement per account and month with a `key;value` header (Banco, Agência, Conta, Período), entries
dated dd/MM/yyyy with Pix, TED, boleto and fee descriptions (accents in Latin-1: "Pix recebido -
Padaria São João"), amounts like `-1.234,56` and the running balance; one invoice file per month
(number, customer CNPJ and name, issue and due dates, amount, status aberta/paga/cancelada, payment
date). `malformados=N` puts N malformed rows in each file (bad date, bad amount, wrong column
count; missing number, bad status, ...), the quarantine's test material.

There is no server: the offline world (emulators/world.py) calls `ensure_folder()` so that
`make run`, `make ui` and the tests find a folder of files; `generate()` writes any other set.

    python -m mirante.emulators.arquivos_financeiros FOLDER [--seed 7] [--malformados 2]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

SEED = 20250101
#: the accounts of the company: (bank, branch, account)
CONTAS = (
    ("Banco do Brasil S.A.", "1234-5", "56789-0"),
    ("Itaú Unibanco S.A.", "0745", "12345-6"),
    ("Caixa Econômica Federal", "0612", "00098765-4"),
)
CLIENTES = (
    ("12.345.678/0001-90", "Padaria São João Ltda"),
    ("23.456.789/0001-01", "Açougue Boa Esperança ME"),
    ("34.567.890/0001-12", "Construtora Aliança S.A."),
    ("45.678.901/0001-23", "Farmácia Popular do Sertão Ltda"),
    ("56.789.012/0001-34", "Escola Criança Feliz"),
    ("67.890.123/0001-45", "Clínica Odontológica Sorriso"),
    ("78.901.234/0001-56", "Mercadinho Três Irmãos"),
    ("89.012.345/0001-67", "Transportes Ligeirão Ltda"),
)
FORNECEDORES = ("Energisa", "Sabesp", "Vivo Empresas", "Distribuidora Pão de Açúcar", "Contabilidade Ávila")
PESSOAS = ("João Conceição", "Maria Araújo", "José Gonçalves", "Antônia Simões", "Luís Assunção")


@dataclass
class Lancamento:
    data: date
    historico: str
    documento: str
    valor: Decimal


def brl(value: Decimal) -> str:
    """Decimal('-1234.56') -> '-1.234,56' (how Brazilian banks write amounts)."""
    text = f"{abs(value):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"-{text}" if value < 0 else text


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(rng.randint(int(low * 100), int(high * 100))) / 100


def _months(inicio: date, meses: int) -> list[date]:
    out, d = [], inicio.replace(day=1)
    for _ in range(meses):
        out.append(d)
        d = (d + timedelta(days=32)).replace(day=1)
    return out


def _entries(rng: random.Random, month: date, seq: list[int]) -> list[Lancamento]:
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    out = []
    for _ in range(rng.randint(25, 40)):
        day = month + timedelta(days=rng.randint(0, (end - month).days))
        kind = rng.choices(
            ["pix_in", "pix_out", "ted_in", "ted_out", "boleto_in", "boleto_out"], [5, 3, 2, 1, 4, 3]
        )[0]
        seq[0] += 1
        doc = f"{seq[0]:08d}"
        if kind == "pix_in":
            e = Lancamento(day, f"Pix recebido - {rng.choice(PESSOAS)}", f"PIX{doc}", _money(rng, 50, 3_000))
        elif kind == "pix_out":
            e = Lancamento(day, f"Pix enviado - {rng.choice(PESSOAS)}", f"PIX{doc}", -_money(rng, 20, 1_500))
        elif kind == "ted_in":
            e = Lancamento(
                day, f"TED recebida - {rng.choice(CLIENTES)[1]}", f"TED{doc}", _money(rng, 1_000, 25_000)
            )
        elif kind == "ted_out":
            e = Lancamento(
                day, f"TED enviada - {rng.choice(FORNECEDORES)}", f"TED{doc}", -_money(rng, 500, 12_000)
            )
        elif kind == "boleto_in":
            e = Lancamento(
                day, f"Liquidação de boleto - {rng.choice(CLIENTES)[1]}", f"BLT{doc}", _money(rng, 200, 9_000)
            )
        else:
            e = Lancamento(
                day,
                f"Pagamento de boleto - {rng.choice(FORNECEDORES)}",
                f"BLT{doc}",
                -_money(rng, 100, 6_000),
            )
        out.append(e)
    seq[0] += 1
    out.append(Lancamento(end, "Tarifa pacote de serviços", f"TAR{seq[0]:08d}", -_money(rng, 29, 89)))
    return sorted(out, key=lambda e: (e.data, e.documento))


def _bad_statement_lines(month: date, n: int) -> list[str]:
    bad = [
        f"31/02/{month.year};Pix recebido - Data impossível;PIXERR;100,00;",
        f"{month:%d/%m/%Y};Pix recebido - Valor estranho;PIXERR;1,234.56;",
        f"{month:%d/%m/%Y};TED recebida;TEDERR",
        f"{month:%d/%m/%Y};;TAR00000000;-10,00;",
    ]
    return [bad[i % len(bad)] for i in range(n)]


def statement_text(
    rng: random.Random,
    conta: tuple[str, str, str],
    month: date,
    saldo: Decimal,
    seq: list[int],
    malformados: int = 0,
    bad_rng: random.Random | None = None,
) -> tuple[str, Decimal]:
    """One month of one account as the bank exports it, and the closing balance; `malformados`
    bad lines placed by `bad_rng` (its own generator: the good lines do not depend on them)."""
    bad_rng = bad_rng or random.Random(0)
    banco, agencia, numero = conta
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    lines = [
        f"Banco;{banco}",
        f"Agência;{agencia}",
        f"Conta;{numero}",
        f"Período;{month:%d/%m/%Y} a {end:%d/%m/%Y}",
        "",
        "Data;Histórico;Documento;Valor (R$);Saldo (R$)",
    ]
    body = []
    for e in _entries(rng, month, seq):
        saldo += e.valor
        body.append(f"{e.data:%d/%m/%Y};{e.historico};{e.documento};{brl(e.valor)};{brl(saldo)}")
    for line in _bad_statement_lines(month, malformados):
        body.insert(bad_rng.randint(0, len(body)), line)
    return "\r\n".join(lines + body) + "\r\n", saldo


def invoices(
    rng: random.Random,
    month: date,
    seq: list[int],
    hoje: date,
    malformados: int = 0,
    bad_rng: random.Random | None = None,
) -> list[dict]:
    """One month of invoices issued, with their status as of `hoje` (bad ones as in statement_text)."""
    bad_rng = bad_rng or random.Random(0)
    out = []
    for _ in range(rng.randint(12, 20)):
        seq[0] += 1
        emissao = month + timedelta(days=rng.randint(0, 27))
        vencimento = emissao + timedelta(days=rng.choice([15, 28, 30, 45]))
        cnpj, nome = rng.choice(CLIENTES)
        situacao = rng.choices(["paga", "aberta", "cancelada"], [7, 2, 1])[0]
        if situacao == "paga" and vencimento > hoje:
            situacao = "aberta"
        pago = vencimento - timedelta(days=rng.randint(-5, 10)) if situacao == "paga" else None
        if pago is not None and pago > hoje:
            pago = hoje
        out.append(
            {
                "numero": f"NF-{seq[0]:06d}",
                "serie": "1",
                "cliente": {"cnpj": cnpj, "nome": nome},
                "emissao": emissao.isoformat(),
                "vencimento": vencimento.isoformat(),
                "valor": _money(rng, 150, 18_000),
                "situacao": situacao,
                "pago_em": pago.isoformat() if pago else None,
            }
        )
    bad = [
        {
            "numero": "",
            "cliente": {"cnpj": CLIENTES[0][0]},
            "emissao": month.isoformat(),
            "vencimento": month.isoformat(),
            "valor": Decimal("10.00"),
            "situacao": "aberta",
        },
        {
            "numero": "NF-ERR-1",
            "cliente": {"cnpj": CLIENTES[1][0]},
            "emissao": month.isoformat(),
            "vencimento": month.isoformat(),
            "valor": "1.234,56",
            "situacao": "aberta",
        },
        {
            "numero": "NF-ERR-2",
            "cliente": {"cnpj": CLIENTES[2][0]},
            "emissao": month.isoformat(),
            "vencimento": month.isoformat(),
            "valor": Decimal("99.90"),
            "situacao": "estornada",
        },
        {
            "numero": "NF-ERR-3",
            "cliente": {"cnpj": CLIENTES[3][0]},
            "emissao": f"{month:%d/%m/%Y}",
            "vencimento": month.isoformat(),
            "valor": Decimal("5.00"),
            "situacao": "aberta",
        },
    ]
    for i in range(malformados):
        out.insert(bad_rng.randint(0, len(out)), bad[i % len(bad)])
    return out


def _json(items: list[dict]) -> str:
    # Decimal as a JSON number with its two decimals (never through float)
    text = json.dumps(items, ensure_ascii=False, indent=2, default=lambda v: f"@@{v}@@")
    return text.replace('"@@', "").replace('@@"', "")


def generate(
    folder: str | Path,
    *,
    seed: int = SEED,
    inicio: date = date(2025, 1, 1),
    meses: int = 3,
    contas: int = len(CONTAS),
    malformados: int = 0,
) -> list[Path]:
    """Write `meses` months of statements (one file per account and month) and invoices (one file
    per month) into `folder`; same arguments, same bytes. Returns the files written."""
    rng, bad_rng = random.Random(seed), random.Random(seed + 1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    months = _months(inicio, meses)
    hoje = (months[-1] + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    written = []
    statement_seq, invoice_seq = [0], [0]
    for conta in CONTAS[:contas]:
        saldo = _money(rng, 5_000, 50_000)
        slug = conta[2].replace("-", "")
        for month in months:
            text, saldo = statement_text(rng, conta, month, saldo, statement_seq, malformados, bad_rng)
            path = folder / f"extrato_{slug}_{month:%Y-%m}.csv"
            path.write_bytes(text.encode("latin-1"))
            written.append(path)
    for month in months:
        path = folder / f"faturas_{month:%Y-%m}.json"
        path.write_text(
            _json(invoices(rng, month, invoice_seq, hoje, malformados, bad_rng)), encoding="utf-8"
        )
        written.append(path)
    return written


def ensure_folder(folder: str | Path) -> list[Path]:
    """The offline world's folder: generated files written once if it has no history file yet
    (files put there by hand, or already loaded, are left alone). Returns the files written."""
    folder = Path(folder)
    if folder.is_dir() and any(p.suffix.lower() in (".csv", ".json") for p in folder.iterdir()):
        return []
    return generate(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--meses", type=int, default=3)
    parser.add_argument("--malformados", type=int, default=0)
    args = parser.parse_args(argv)
    files = generate(args.folder, seed=args.seed, meses=args.meses, malformados=args.malformados)
    print(f"{len(files)} synthetic files written to {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
