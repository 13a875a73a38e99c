"""The monthly finance reports as files: the income statement (DRE, marts.agg_dre_mes) and the daily
cash flow (marts.fct_fluxo_caixa_diario) of one month, each as a PDF for people and a CSV for
spreadsheets, archived by mirante/relatorios.py. Called by the Dagster asset
`relatorios/financeiro_mensal` (defs/relatorios.py), one partition per month.

Formats, chosen for Brazilian users:
- PDF (fpdf2, core Helvetica font): title, company (config.relatorios_empresa()), the month in
  Portuguese, values as R$ 1.234,56. The DRE lists its lines in statement order, subtotals in bold;
  the cash flow has one table per account (opening balance, inflows, outflows, closing balance) and
  one per day over all accounts, each with a total row. Its creation date is the month's last data
  day, not the clock: the same figures give the same bytes, so a rerun archives nothing new.
- CSV: UTF-8 with BOM (Excel detects the encoding), `;` between fields and a decimal comma with no
  thousands separator (Excel in pt-BR reads the values as numbers), dates dd/mm/aaaa, the month as
  aaaa-mm, CRLF line ends. One row per row of the mart (no total rows: the totals are in the PDF and
  are the sums of the CSV's values). Column names are the mart's.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from mirante import config
from mirante import relatorios as arquivo

MESES = (
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
)
#: DRE lines printed in bold (subtotals)
SUBTOTAIS = ("receita_liquida", "resultado_operacional", "resultado_liquido")
DRE_COLUNAS = ("mes", "ordem", "linha", "descricao", "valor")
FLUXO_COLUNAS = (
    "data",
    "id_conta",
    "nome_banco",
    "agencia",
    "conta",
    "entradas",
    "saidas",
    "movimento_liquido",
    "saldo",
)


class SemDados(Exception):
    """The marts hold nothing for the month: no report is written."""


@dataclass(frozen=True)
class Mes:
    """A month's figures, as read from the marts."""

    mes: str  # YYYY-MM
    dre: list[dict]
    fluxo: list[dict]

    @property
    def primeiro_dia(self) -> date:
        return date.fromisoformat(f"{self.mes}-01")

    @property
    def titulo(self) -> str:
        return f"{MESES[self.primeiro_dia.month - 1]} de {self.primeiro_dia.year}"

    def ultimo_dia_com_dados(self) -> date:
        return max([r["data"] for r in self.fluxo] or [self.primeiro_dia])

    def contas(self) -> list[dict]:
        """Per account: opening balance (the first day's balance less its movement), inflows,
        outflows and net movement summed, closing balance (the last day's)."""
        out: dict[int, dict] = {}
        for r in self.fluxo:  # ordered by data, id_conta
            c = out.setdefault(
                r["id_conta"],
                {
                    **{k: r[k] for k in ("id_conta", "nome_banco", "agencia", "conta")},
                    "saldo_inicial": r["saldo"] - r["movimento_liquido"],
                    "entradas": Decimal(0),
                    "saidas": Decimal(0),
                    "movimento_liquido": Decimal(0),
                },
            )
            for k in ("entradas", "saidas", "movimento_liquido"):
                c[k] += r[k]
            c["saldo_final"] = r["saldo"]
        return sorted(out.values(), key=lambda c: c["id_conta"])

    def dias(self) -> list[dict]:
        """Per day over every account: inflows, outflows, net movement, the sum of the balances."""
        out: dict[date, dict] = {}
        for r in self.fluxo:
            d = out.setdefault(
                r["data"], dict.fromkeys(("entradas", "saidas", "movimento_liquido", "saldo"), 0)
            )
            for k in ("entradas", "saidas", "movimento_liquido", "saldo"):
                d[k] += r[k]
        return [{"data": k, **v} for k, v in sorted(out.items())]


def ler_mes(url: str, mes: str) -> Mes:
    """The month's DRE lines and cash-flow rows, read as `url`'s role (the reader) in one snapshot."""
    import psycopg
    from psycopg.rows import dict_row

    arquivo.check_mes(mes)
    inicio = date.fromisoformat(f"{mes}-01")
    fim = date(inicio.year + inicio.month // 12, inicio.month % 12 + 1, 1)
    with psycopg.connect(url, row_factory=dict_row, connect_timeout=10) as conn:
        conn.execute("set transaction isolation level repeatable read read only")
        dre = conn.execute(
            "select mes, ordem, linha, descricao, valor from marts.agg_dre_mes where mes = %s order by ordem",
            (inicio,),
        ).fetchall()
        fluxo = conn.execute(
            f"select {', '.join(FLUXO_COLUNAS)} from marts.fct_fluxo_caixa_diario "
            "where data >= %s and data < %s order by data, id_conta",
            (inicio, fim),
        ).fetchall()
    if not dre and not fluxo:
        raise SemDados(f"marts.agg_dre_mes and marts.fct_fluxo_caixa_diario hold nothing for {mes}")
    return Mes(mes, dre, fluxo)


def ultimo_mes(url: str) -> str | None:
    """The latest month (YYYY-MM) both marts hold data for (the income statement's latest month
    when the cash flow reaches into the next), None when they hold none (or are not built)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        if (
            None
            in conn.execute(
                "select to_regclass('marts.agg_dre_mes'), to_regclass('marts.fct_fluxo_caixa_diario')"
            ).fetchone()
        ):
            return None
        (ultimo,) = conn.execute(
            "select least((select max(mes) from marts.agg_dre_mes), "
            "(select max(data) from marts.fct_fluxo_caixa_diario))"
        ).fetchone()
    return ultimo.strftime("%Y-%m") if ultimo else None


# ------------------------------------------------------------------------------------ formatting


def numero(v: Decimal | int | float) -> str:
    """1234.5 -> '1.234,50' (Brazilian grouping and decimal comma)."""
    text = f"{Decimal(v):,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def reais(v: Decimal | int | float) -> str:
    """1234.5 -> 'R$ 1.234,50', -1234.5 -> '-R$ 1.234,50'."""
    return ("-" if Decimal(v) < 0 else "") + "R$ " + numero(abs(Decimal(v)))


def data_br(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _csv_valor(v) -> str:
    if isinstance(v, Decimal | float):
        return f"{Decimal(v):.2f}".replace(".", ",")
    if isinstance(v, date):
        return data_br(v)
    return "" if v is None else str(v)


def _csv(colunas: tuple[str, ...], linhas: list[dict]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(colunas)
    for r in linhas:
        w.writerow([_csv_valor(r[c]) for c in colunas])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def dre_csv(m: Mes) -> bytes:
    return _csv(DRE_COLUNAS, [{**r, "mes": m.mes} for r in m.dre])


def fluxo_csv(m: Mes) -> bytes:
    return _csv(FLUXO_COLUNAS, m.fluxo)


# ------------------------------------------------------------------------------------------ PDF


def _pdf(m: Mes, titulo: str, fonte: str):
    from fpdf import FPDF

    empresa = config.relatorios_empresa()

    class Relatorio(FPDF):
        def footer(self):
            self.set_y(-12)
            self.set_font("Helvetica", size=8)
            self.set_text_color(110)
            self.cell(0, 5, f"{empresa} - {titulo}, {m.titulo} - fonte: {fonte}", align="L")
            self.cell(0, 5, f"página {self.page_no()}/{{nb}}", align="R")

    pdf = Relatorio(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(f"{titulo} - {m.titulo}")
    pdf.set_author(empresa)
    pdf.set_creator("Mirante")
    pdf.set_creation_date(datetime.combine(m.ultimo_dia_com_dados(), time(), UTC))
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 9, titulo, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 6, f"{empresa} - {m.titulo} ({m.mes})", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(90)
    pdf.set_font("Helvetica", size=9)
    pdf.cell(
        0,
        5,
        f"Valores em reais (R$). Dados até {data_br(m.ultimo_dia_com_dados())}.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0)
    pdf.ln(4)
    return pdf


def _table(pdf, cabecalho, linhas, larguras, alinhamento, negrito=()):
    """A table: `linhas` of texts; rows whose index is in `negrito` in bold (totals, subtotals)."""
    from fpdf.fonts import FontFace

    pdf.set_font("Helvetica", size=9)
    bold = FontFace(emphasis="BOLD")
    with pdf.table(
        col_widths=larguras,
        text_align=alinhamento,
        line_height=6,
        headings_style=FontFace(emphasis="BOLD", fill_color=(230, 236, 245)),
        borders_layout="HORIZONTAL_LINES",
        width=sum(larguras),
        align="LEFT",
    ) as t:
        t.row(cabecalho)
        for i, linha in enumerate(linhas):
            row = t.row()
            for text in linha:
                row.cell(text, style=bold if i in negrito else None)


def dre_pdf(m: Mes) -> bytes:
    pdf = _pdf(m, "Demonstração do resultado (DRE)", "marts.agg_dre_mes")
    linhas = [[r["descricao"], reais(r["valor"])] for r in m.dre]
    negrito = {i for i, r in enumerate(m.dre) if r["linha"] in SUBTOTAIS}
    if linhas:
        _table(pdf, ["Linha", "Valor"], linhas, (120, 50), ("LEFT", "RIGHT"), negrito)
    else:
        pdf.cell(0, 6, "Sem lançamentos de resultado neste mês.")
    return bytes(pdf.output())


def fluxo_pdf(m: Mes) -> bytes:
    pdf = _pdf(m, "Fluxo de caixa diário", "marts.fct_fluxo_caixa_diario")
    contas, dias = m.contas(), m.dias()
    if not dias:
        pdf.cell(0, 6, "Sem movimentos de caixa neste mês.")
        return bytes(pdf.output())
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.cell(0, 7, "Por conta", new_x="LMARGIN", new_y="NEXT")
    soma = {k: sum(c[k] for c in contas) for k in ("saldo_inicial", "entradas", "saidas", "saldo_final")}
    linhas = [
        [
            c["nome_banco"],
            f"{c['agencia']} / {c['conta']}",
            *(reais(c[k]) for k in ("saldo_inicial", "entradas", "saidas", "saldo_final")),
        ]
        for c in contas
    ]
    linhas.append(
        ["Total", "", *(reais(soma[k]) for k in ("saldo_inicial", "entradas", "saidas", "saldo_final"))]
    )
    _table(
        pdf,
        ["Banco", "Agência / conta", "Saldo inicial", "Entradas", "Saídas", "Saldo final"],
        linhas,
        (44, 30, 29, 29, 29, 29),
        ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        {len(linhas) - 1},
    )
    pdf.ln(5)
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.cell(0, 7, "Por dia (todas as contas)", new_x="LMARGIN", new_y="NEXT")
    linhas = [
        [data_br(d["data"]), *(reais(d[k]) for k in ("entradas", "saidas", "movimento_liquido", "saldo"))]
        for d in dias
    ]
    linhas.append(
        [
            "Total do mês",
            *(reais(sum(d[k] for d in dias)) for k in ("entradas", "saidas", "movimento_liquido")),
            reais(dias[-1]["saldo"]),
        ]
    )
    _table(
        pdf,
        ["Data", "Entradas", "Saídas", "Movimento líquido", "Saldo"],
        linhas,
        (30, 36, 36, 36, 36),
        ("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        {len(linhas) - 1},
    )
    return bytes(pdf.output())


RENDER = {
    ("dre", "pdf"): dre_pdf,
    ("dre", "csv"): dre_csv,
    ("fluxo_caixa", "pdf"): fluxo_pdf,
    ("fluxo_caixa", "csv"): fluxo_csv,
}


def gerar(url: str, mes: str) -> list[tuple[arquivo.Relatorio, bool]]:
    """The four reports of `mes` from the marts (as the role of `url`), archived: [(entry, new?)]."""
    m = ler_mes(url, mes)
    return [arquivo.publish(mes, tipo, formato, render(m)) for (tipo, formato), render in RENDER.items()]
