"""A deterministic Brazilian commercial world shared by the CRM (Ploomes-like) and ERP (SAP Business
One Service Layer-like) emulators.

Everything is a pure function of (seed, day): the records of one day come from a random generator
seeded with (seed, day), so any day can be rebuilt alone and both emulators agree on customers,
products and sales without sharing state. The emulated clock (`Mundo.hoje`) decides what exists:
records dated after it are not visible yet, and records *changed* after their creation (an order
cancelled, a deal won or lost) show their change only once the clock reaches the change date. The
generator mode of the emulators advances the clock, so incremental loads see new and changed rows.

Realism:
- customers in every UF, weighted by the 2022 Census population of the UF (IBGE), placed in a
  municipality of the UF taken from the real reference list (`<shared data>/reference/municipios.csv`),
  the capital weighted as a third of its UF;
- sales modalities loja, online, televendas and representante, each with its own weekday pattern;
- seasonality (low January-February, Mother's Day in May, Black Friday in November, December peak);
- prices in BRL with two decimals; CNPJs with valid check digits;
- recurring service contracts billed every month (the source of the MRR mart), some cancelled.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property, lru_cache
from pathlib import Path

#: Censo 2022 population per UF (IBGE, "Panorama do Censo 2022")
POPULACAO_UF = {
    "SP": 44_411_238,
    "MG": 20_538_718,
    "RJ": 16_054_524,
    "BA": 14_141_626,
    "PR": 11_444_380,
    "RS": 10_882_965,
    "PE": 9_058_931,
    "CE": 8_794_957,
    "PA": 8_120_131,
    "SC": 7_610_361,
    "GO": 7_056_495,
    "MA": 6_776_699,
    "PB": 3_974_687,
    "AM": 3_941_613,
    "ES": 3_833_712,
    "MT": 3_658_649,
    "RN": 3_302_729,
    "PI": 3_271_199,
    "AL": 3_127_683,
    "DF": 2_817_381,
    "MS": 2_757_013,
    "SE": 2_210_004,
    "RO": 1_581_196,
    "TO": 1_511_460,
    "AC": 830_018,
    "AP": 733_759,
    "RR": 636_707,
}

#: sales modality -> (share of orders, weekday weights Monday..Sunday)
MODALIDADES = {
    "loja": (0.35, (1.0, 1.0, 1.0, 1.0, 1.1, 1.4, 0.3)),
    "online": (0.30, (1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.2)),
    "televendas": (0.15, (1.1, 1.1, 1.1, 1.1, 1.0, 0.2, 0.0)),
    "representante": (0.20, (1.2, 1.2, 1.2, 1.2, 1.0, 0.0, 0.0)),
}

#: month -> demand factor (1.0 = average month)
SAZONALIDADE = {
    1: 0.75,
    2: 0.8,
    3: 0.95,
    4: 0.95,
    5: 1.1,
    6: 0.95,
    7: 0.95,
    8: 1.0,
    9: 0.95,
    10: 1.0,
    11: 1.35,
    12: 1.45,
}

#: (family, description, price in BRL) of the catalogue
CATALOGO = [
    ("Informática", "Notebook 14 polegadas", "3899.00"),
    ("Informática", "Monitor 24 polegadas", "899.90"),
    ("Informática", "Teclado sem fio", "129.90"),
    ("Informática", "Mouse óptico", "49.90"),
    ("Informática", "Impressora multifuncional", "1199.00"),
    ("Informática", "SSD 1 TB", "459.90"),
    ("Escritório", "Cadeira ergonômica", "1290.00"),
    ("Escritório", "Mesa de escritório", "849.00"),
    ("Escritório", "Resma de papel A4", "32.90"),
    ("Escritório", "Caneta esferográfica (cx 50)", "54.90"),
    ("Escritório", "Arquivo de aço 4 gavetas", "1150.00"),
    ("Escritório", "Grampeador", "39.90"),
    ("Limpeza", "Detergente 5 L", "28.50"),
    ("Limpeza", "Papel toalha (fardo)", "74.90"),
    ("Limpeza", "Álcool 70% 5 L", "45.00"),
    ("Limpeza", "Saco de lixo 100 L (pct 100)", "59.90"),
    ("Copa", "Café torrado 1 kg", "42.90"),
    ("Copa", "Açúcar refinado 5 kg", "24.90"),
    ("Copa", "Copo descartável (cx 2500)", "119.00"),
    ("Copa", "Garrafa térmica 1,8 L", "89.90"),
    ("Eletro", "Ar-condicionado split 12000 BTU", "2599.00"),
    ("Eletro", "Frigobar 80 L", "1349.00"),
    ("Eletro", "Micro-ondas 30 L", "749.00"),
    ("Eletro", "Bebedouro de pressão", "699.00"),
]

#: recurring services: (description, monthly price in BRL)
SERVICOS_RECORRENTES = [
    ("Plano de manutenção de equipamentos", "390.00"),
    ("Locação de impressoras", "590.00"),
    ("Suporte técnico mensal", "890.00"),
    ("Fornecimento programado de suprimentos", "1250.00"),
]

#: customers and contracts are spread over this many days from `inicio`, whatever the clock says,
#: so moving the clock never changes what already existed
HORIZONTE_DIAS = 730

ETAPAS_NEGOCIO = ("Prospecção", "Qualificação", "Proposta", "Negociação", "Fechamento")

_NOMES = (
    "Silva",
    "Souza",
    "Oliveira",
    "Santos",
    "Pereira",
    "Costa",
    "Ferreira",
    "Rodrigues",
    "Almeida",
    "Nascimento",
    "Lima",
    "Araújo",
    "Carvalho",
    "Gomes",
    "Ribeiro",
    "Martins",
    "Rocha",
    "Barbosa",
)
_RAMOS = (
    "Comércio",
    "Distribuidora",
    "Serviços",
    "Indústria",
    "Atacadista",
    "Clínica",
    "Escola",
    "Construtora",
    "Supermercado",
    "Farmácia",
    "Transportes",
    "Contabilidade",
)
_SUFIXOS = ("Ltda", "ME", "EIRELI", "S.A.", "Ltda - EPP")
_PRIMEIROS = (
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Eduarda",
    "Fábio",
    "Gabriela",
    "Heitor",
    "Isabela",
    "João",
    "Karina",
    "Lucas",
    "Mariana",
    "Nelson",
    "Patrícia",
    "Rafael",
    "Sabrina",
    "Tiago",
)


def _brl(value: Decimal | float | str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def cnpj_valido(base12: str) -> str:
    """A CNPJ (14 digits) with the two check digits computed for its first 12 digits."""
    digits = [int(c) for c in base12]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        s = sum(d * w for d, w in zip(digits, weights, strict=False))
        r = s % 11
        digits.append(0 if r < 2 else 11 - r)
    return "".join(map(str, digits))


def _shared_reference() -> Path:
    from mirante import config

    return config.shared_data_dir() / "reference"


@lru_cache(maxsize=2)
def municipios_por_uf(reference: Path | None = None) -> dict[str, list[tuple[str, str, bool]]]:
    """UF -> [(id_municipio, nome, capital)] from the real IBGE reference list."""
    reference = reference or _shared_reference()
    with open(reference / "estados.csv", encoding="utf-8-sig", newline="") as fh:
        sigla = {r["codigo_uf"]: r["uf"] for r in csv.DictReader(fh)}
    out: dict[str, list[tuple[str, str, bool]]] = {uf: [] for uf in POPULACAO_UF}
    with open(reference / "municipios.csv", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            out[sigla[r["codigo_uf"]]].append((r["codigo_ibge"], r["nome"], r["capital"] == "1"))
    for rows in out.values():
        rows.sort()
    return out


@dataclass(frozen=True)
class Cliente:
    codigo: str  # ERP CardCode, e.g. C00042
    id_crm: int  # CRM Contact Id
    razao_social: str
    cnpj: str
    contato: str  # the buyer's name (a person: personal data, hashed before marts)
    email: str
    telefone: str
    id_municipio: str
    cidade: str
    sigla_uf: str
    criado_em: date


@dataclass(frozen=True)
class Produto:
    codigo: str
    descricao: str
    familia: str
    preco: Decimal


@dataclass(frozen=True)
class Linha:
    num: int
    produto: Produto
    quantidade: int
    preco: Decimal  # unit price after discount

    @property
    def total(self) -> Decimal:
        return _brl(self.preco * self.quantidade)


@dataclass(frozen=True)
class Pedido:
    doc_entry: int
    data: date
    criado_em: datetime
    cliente: Cliente
    modalidade: str
    vendedor: int
    linhas: tuple[Linha, ...]
    cancelado_em: date | None = None  # set when the order is cancelled later
    contrato: int | None = None  # recurring contract billed by this order

    @property
    def total(self) -> Decimal:
        return _brl(sum((l.total for l in self.linhas), Decimal(0)))

    def visivel(self, hoje: date) -> bool:
        return self.data <= hoje

    def cancelado(self, hoje: date) -> bool:
        return self.cancelado_em is not None and self.cancelado_em <= hoje

    def atualizado_em(self, hoje: date) -> date:
        return self.cancelado_em if self.cancelado(hoje) else self.data


@dataclass(frozen=True)
class Negocio:
    id: int
    titulo: str
    cliente: Cliente
    criado_em: datetime
    valor: Decimal
    fecha_em: date | None  # day the deal is won or lost (None: stays open)
    ganho: bool

    def status(self, hoje: date) -> str:
        """'open', 'won' or 'lost' as seen on `hoje`."""
        if self.fecha_em is None or self.fecha_em > hoje:
            return "open"
        return "won" if self.ganho else "lost"

    def etapa(self, hoje: date) -> str:
        if self.status(hoje) != "open":
            return ETAPAS_NEGOCIO[-1]
        dias = (hoje - self.criado_em.date()).days
        return ETAPAS_NEGOCIO[min(len(ETAPAS_NEGOCIO) - 2, max(0, dias // 7))]

    def atualizado_em(self, hoje: date) -> datetime:
        if self.status(hoje) != "open":
            return datetime.combine(self.fecha_em, time(17, 30))
        return self.criado_em


@dataclass(frozen=True)
class Contrato:
    id: int
    cliente: Cliente
    servico: str
    valor_mensal: Decimal
    inicio: date  # first day of the first billed month
    fim: date | None  # first month no longer billed (cancelled), None = active


@dataclass
class Mundo:
    """The commercial world seen on `hoje`. `inicio` is the first day with activity."""

    seed: int = 42
    inicio: date = date(2025, 1, 1)
    hoje: date = date(2025, 12, 31)
    n_clientes: int = 1500
    pedidos_dia: float = 40.0  # average orders per day before seasonality
    negocios_dia: float = 12.0  # average new deals per day
    reference: Path | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    # -- static parts --------------------------------------------------------------------------
    @cached_property
    def produtos(self) -> list[Produto]:
        return [Produto(f"P{i + 1:04d}", d, f, _brl(p)) for i, (f, d, p) in enumerate(CATALOGO)]

    @cached_property
    def clientes(self) -> list[Cliente]:
        rng = random.Random(f"{self.seed}:clientes")
        municipios = municipios_por_uf(self.reference)
        ufs = list(POPULACAO_UF)
        pesos = [POPULACAO_UF[u] for u in ufs]
        dias = HORIZONTE_DIAS
        out = []
        for i in range(self.n_clientes):
            # the first 27 customers cover every UF; the rest follow the population
            uf = ufs[i] if i < len(ufs) else rng.choices(ufs, pesos)[0]
            lista = municipios[uf]
            capitais = [m for m in lista if m[2]]
            id_mun, cidade, _ = capitais[0] if capitais and rng.random() < 1 / 3 else rng.choice(lista)
            nome = f"{rng.choice(_RAMOS)} {rng.choice(_NOMES)} {rng.choice(_SUFIXOS)}"
            pessoa = f"{rng.choice(_PRIMEIROS)} {rng.choice(_NOMES)}"
            # a third of the customers exist before the window, the rest arrive along it
            criado = (
                self.inicio - timedelta(days=365)
                if i % 3 == 0
                else self.inicio + timedelta(days=rng.randrange(dias))
            )
            out.append(
                Cliente(
                    codigo=f"C{i + 1:05d}",
                    id_crm=100_000 + i,
                    razao_social=nome,
                    cnpj=cnpj_valido(f"{rng.randrange(10**7, 10**8)}0001"),
                    contato=pessoa,
                    email=f"{pessoa.split()[0].lower()}.{i}@cliente{i}.com.br",
                    telefone=f"+55 {rng.randint(11, 99)} 9{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
                    id_municipio=id_mun,
                    cidade=cidade,
                    sigla_uf=uf,
                    criado_em=criado,
                )
            )
        return out

    def clientes_em(self, dia: date) -> list[Cliente]:
        return [c for c in self.clientes if c.criado_em <= dia]

    @cached_property
    def contratos(self) -> list[Contrato]:
        """Recurring contracts: about 8% of the customers, starting along the window; a quarter of
        them cancelled after 3 to 9 months."""
        rng = random.Random(f"{self.seed}:contratos")
        meses = _meses(self.inicio, self.inicio + timedelta(days=HORIZONTE_DIAS))
        out = []
        for c in self.clientes:
            if rng.random() >= 0.08:
                continue
            servico, valor = rng.choice(SERVICOS_RECORRENTES)
            inicio = max(rng.choice(meses[:18]), c.criado_em.replace(day=1))
            fim = None
            if rng.random() < 0.25:
                fim = _add_meses(inicio, rng.randint(3, 9))
            out.append(Contrato(len(out) + 1, c, servico, _brl(valor), inicio, fim))
        return out

    # -- per-day records -----------------------------------------------------------------------
    def pedidos_do_dia(self, dia: date) -> list[Pedido]:
        """The orders dated `dia` (whatever the clock says; filter with `visivel`). Recurring
        contracts are billed on the first day of each month."""
        key = ("pedidos", dia)
        if key in self._cache:
            return self._cache[key]
        rng = random.Random(f"{self.seed}:pedidos:{dia.isoformat()}")
        clientes = self.clientes_em(dia)
        out: list[Pedido] = []
        base = dia.toordinal() * 1000
        if dia.day == 1:
            for ct in self.contratos:
                if ct.inicio <= dia and (ct.fim is None or dia < ct.fim):
                    codigo = [s[0] for s in SERVICOS_RECORRENTES].index(ct.servico) + 1
                    servico = Produto(f"S{codigo:03d}", ct.servico, "Serviços", ct.valor_mensal)
                    out.append(
                        Pedido(
                            doc_entry=base + len(out) + 1,
                            data=dia,
                            criado_em=datetime.combine(dia, time(6, 0)),
                            cliente=ct.cliente,
                            modalidade="representante",
                            vendedor=1 + ct.id % 12,
                            linhas=(Linha(0, servico, 1, ct.valor_mensal),),
                            contrato=ct.id,
                        )
                    )
        for modalidade, (share, semana) in MODALIDADES.items():
            media = self.pedidos_dia * share * SAZONALIDADE[dia.month] * semana[dia.weekday()]
            if (dia.month, dia.day) >= (11, 24) and (dia.month, dia.day) <= (11, 30):
                media *= 2.5 if modalidade == "online" else 1.5  # Black Friday week
            for _ in range(_poisson(rng, media)):
                if not clientes:
                    break
                cliente = rng.choice(clientes)
                linhas = []
                for n, produto in enumerate(rng.sample(self.produtos, rng.choice((1, 1, 2, 2, 3, 4)))):
                    desconto = Decimal(rng.choice((0, 0, 0, 5, 10))) / 100
                    linhas.append(
                        Linha(
                            n, produto, rng.choice((1, 1, 2, 3, 5, 10)), _brl(produto.preco * (1 - desconto))
                        )
                    )
                cancelado = None
                if rng.random() < 0.04:
                    cancelado = dia + timedelta(days=rng.randint(1, 10))
                out.append(
                    Pedido(
                        doc_entry=base + len(out) + 1,
                        data=dia,
                        criado_em=datetime.combine(dia, time(rng.randint(8, 20), rng.randint(0, 59))),
                        cliente=cliente,
                        modalidade=modalidade,
                        vendedor=rng.randint(1, 12),
                        linhas=tuple(linhas),
                        cancelado_em=cancelado,
                    )
                )
        self._cache[key] = out
        return out

    def negocios_do_dia(self, dia: date) -> list[Negocio]:
        """Deals opened on `dia`: about 30% won and 45% lost after a 3-60 day cycle, the rest open."""
        key = ("negocios", dia)
        if key in self._cache:
            return self._cache[key]
        rng = random.Random(f"{self.seed}:negocios:{dia.isoformat()}")
        clientes = self.clientes_em(dia)
        out = []
        media = self.negocios_dia * SAZONALIDADE[dia.month] * (0.2 if dia.weekday() >= 5 else 1.0)
        for n in range(_poisson(rng, media)):
            cliente = rng.choice(clientes)
            sorte = rng.random()
            fecha = dia + timedelta(days=rng.randint(3, 60)) if sorte < 0.75 else None
            valor = _brl(rng.choice((1500, 3000, 5000, 8000, 12000, 25000, 50000)) * rng.uniform(0.8, 1.2))
            out.append(
                Negocio(
                    id=dia.toordinal() * 100 + n,
                    titulo=f"{cliente.razao_social}: proposta {n + 1}",
                    cliente=cliente,
                    criado_em=datetime.combine(dia, time(rng.randint(8, 18), rng.randint(0, 59))),
                    valor=valor,
                    fecha_em=fecha,
                    ganho=sorte < 0.30,
                )
            )
        self._cache[key] = out
        return out

    def dias(self, ate: date | None = None):
        d, fim = self.inicio, ate or self.hoje
        while d <= fim:
            yield d
            d += timedelta(days=1)

    def pedidos(self) -> list[Pedido]:
        """Every order visible on `hoje`, oldest first."""
        return [p for d in self.dias() for p in self.pedidos_do_dia(d)]

    def negocios(self) -> list[Negocio]:
        """Every deal visible on `hoje`, oldest first."""
        return [n for d in self.dias() for n in self.negocios_do_dia(d)]

    def avancar(self, dias: int = 1) -> date:
        """Generator mode: move the clock; new days bring new records, old ones may change."""
        self.hoje += timedelta(days=dias)
        return self.hoje


def _poisson(rng: random.Random, media: float) -> int:
    """A Poisson draw (Knuth for small means, normal approximation above 30)."""
    if media <= 0:
        return 0
    if media > 30:
        return max(0, round(rng.gauss(media, media**0.5)))
    import math

    limite, k, p = math.exp(-media), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limite:
            return k
        k += 1


def _add_meses(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def _meses(inicio: date, fim: date) -> list[date]:
    out, d = [], inicio.replace(day=1)
    while d <= fim:
        out.append(d)
        d = _add_meses(d, 1)
    return out
