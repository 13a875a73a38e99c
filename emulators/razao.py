"""The company's operational database (the ledger the razao loader captures): a PostgreSQL database
`razao_origem` on the project's server, owned by the application's role `razao_app`, with
customers, bank accounts, receivables, payables and payments changing day by day.

THE DATA IS SYNTHETIC, from a seeded generator: the same accounts and customers as the finance
history files (emulators/arquivos_financeiros.py: CONTAS, CLIENTES, FORNECEDORES; a few customers are
persons from PESSOAS, with a generated CPF), then one transaction per simulated day from 2025-04-01
(the files cover 2025-01..2025-03) to REFERENCE_END: new receivables and payables, payments that
settle them (status updates), cancellations, receivables entered by mistake and deleted, customers
who move. Each day's changes depend only on the seed, the day and the database's state, so the same
calls give the same rows. `advance(days=n)` simulates n more days (what tests do after a capture).

The source side of the change data capture is set up here as a company's DBA would: every table has
a primary key and REPLICA IDENTITY FULL (deletes and updates carry the whole old row), a
publication `mirante_razao` for the five tables, and a login role `razao_cdc` with REPLICATION and
SELECT on them (password generated into .dlt/secrets.toml, `[razao] senha_cdc`). The capture creates
its own slot (loaders/razao).

    python -m mirante.emulators.razao advance --dias 3
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from .arquivos_financeiros import CLIENTES, CONTAS, FORNECEDORES, PESSOAS

SEED = 20250401
DATABASE = "razao_origem"
APP_ROLE = "razao_app"
CDC_ROLE = "razao_cdc"
PUBLICATION = "mirante_razao"
INICIO = date(2025, 4, 1)
#: the last simulated day of the offline world's history
REFERENCE_END = date(2026, 11, 30)
TZ = ZoneInfo("America/Sao_Paulo")
#: the published tables, in the order a snapshot copies them (parents first)
TABLES = ("clientes", "contas", "recebiveis", "pagaveis", "pagamentos")

I = sql.Identifier

DDL = """
create table clientes (
    id_cliente     integer primary key,
    tipo_pessoa    text not null check (tipo_pessoa in ('fisica', 'juridica')),
    documento      text not null unique,          -- CPF (999.999.999-99) or CNPJ (99.999.999/9999-99)
    nome           text not null,
    municipio      text not null,
    sigla_uf       text not null,
    criado_em      timestamptz not null,
    atualizado_em  timestamptz not null
);
create table contas (
    id_conta   integer primary key,
    nome_banco text not null,
    agencia    text not null,
    conta      text not null,
    descricao  text not null,
    aberta_em  date not null
);
create table recebiveis (
    id_recebivel     integer primary key,
    id_cliente       integer not null references clientes,
    numero_documento text not null unique,
    valor            numeric(18, 2) not null check (valor > 0),
    data_emissao     date not null,
    data_vencimento  date not null,
    situacao         text not null check (situacao in ('aberto', 'pago', 'cancelado')),
    data_pagamento   date
);
create table pagaveis (
    id_pagavel      integer primary key,
    fornecedor      text not null,
    categoria       text not null
                    check (categoria in ('fornecedores', 'folha', 'impostos', 'aluguel', 'servicos')),
    valor           numeric(18, 2) not null check (valor > 0),
    data_emissao    date not null,
    data_vencimento date not null,
    situacao        text not null check (situacao in ('aberto', 'pago', 'cancelado')),
    data_pagamento  date
);
create table pagamentos (
    id_pagamento integer primary key,
    id_conta     integer not null references contas,
    id_recebivel integer references recebiveis,
    id_pagavel   integer references pagaveis,
    natureza     text not null check (natureza in ('credito', 'debito')),
    valor        numeric(18, 2) not null check (valor > 0),
    meio         text not null check (meio in ('boleto', 'ted', 'pix')),
    pago_em      timestamptz not null,
    check ((id_recebivel is null) <> (id_pagavel is null))
);
-- the simulation's clock: not published, not captured
create table simulacao (dia date not null);
"""

MUNICIPIOS = (
    ("São Paulo", "SP"),
    ("Campinas", "SP"),
    ("Belo Horizonte", "MG"),
    ("Recife", "PE"),
    ("Maceió", "AL"),
    ("Curitiba", "PR"),
    ("Salvador", "BA"),
    ("Fortaleza", "CE"),
)
EMPRESAS_NOVAS = (
    "Oficina Mecânica Pé na Estrada Ltda",
    "Gráfica Letra Viva ME",
    "Restaurante Sabor da Terra Ltda",
    "Papelaria Três Marias",
    "Hotel Beira-Mar S.A.",
    "Laboratório Análise Certa Ltda",
)
#: payables: category -> who is paid
CREDORES = {
    "fornecedores": (FORNECEDORES[3], "Atacadão Nordeste Ltda"),
    "servicos": (FORNECEDORES[0], FORNECEDORES[1], FORNECEDORES[2], FORNECEDORES[4]),
    "folha": ("Folha de pagamento",),
    "impostos": ("Receita Federal", "Secretaria da Fazenda"),
    "aluguel": ("Imobiliária Central",),
}


def cpf(rng: random.Random) -> str:
    """A CPF with valid check digits (synthetic), formatted 999.999.999-99."""
    digits = [rng.randint(0, 9) for _ in range(9)]
    for n in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(n, 1, -1), strict=False))
        digits.append((total * 10 % 11) % 10)
    s = "".join(map(str, digits))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"


def cnpj(n: int) -> str:
    """A synthetic CNPJ for the n-th new company (not a real one's: branch 0002)."""
    base = f"{90_000_000 + n * 7919 % 9_999_999:08d}"
    return f"{base[:2]}.{base[2:5]}.{base[5:8]}/0002-{n % 100:02d}"


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def _moment(rng: random.Random, day: date) -> datetime:
    return datetime.combine(day, time(rng.randint(8, 18), rng.randint(0, 59), rng.randint(0, 59)), TZ)


# --------------------------------------------------------------------------------------------
# connections and setup


def app_url(srv, database: str = DATABASE) -> str:
    """The application's TCP URL (password auth, TLS checked like every connection to the server)."""
    from mirante import config

    return config.with_params(
        f"postgresql://{APP_ROLE}:{quote(_password('app'), safe='')}@{srv.host}:{srv.port}/{database}",
        srv.ssl,
    )


def _password(role: str) -> str:
    from mirante import config, db

    return config.razao_password(role) or db.ensure_secret("razao", f"senha_{role}")


def _ensure_role(conn: psycopg.Connection, name: str, password: str, replication: bool) -> None:
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
    conn.execute(
        sql.SQL("{} role {} login nosuperuser nocreatedb nocreaterole {} password {}").format(
            sql.SQL("alter" if exists else "create"),
            I(name),
            sql.SQL("replication" if replication else "noreplication"),
            sql.Literal(password),
        )
    )


def exists(srv, database: str = DATABASE) -> bool:
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        return (
            conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone() is not None
        )


def create(
    srv,
    database: str = DATABASE,
    *,
    fim: date = REFERENCE_END,
    inicio: date = INICIO,
    seed: int = SEED,
    publication: str = PUBLICATION,
) -> dict[str, int]:
    """(Re)create the database with its roles, tables and publication, then simulate every day from
    `inicio` to `fim`. Returns the row count of each table."""
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext('mirante.emulators.razao'))")
        _ensure_role(conn, APP_ROLE, _password("app"), replication=False)
        _ensure_role(conn, CDC_ROLE, _password("cdc"), replication=True)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(I(database)))
        conn.execute(sql.SQL("create database {} owner {}").format(I(database), I(APP_ROLE)))
        conn.execute(sql.SQL("revoke all on database {} from public").format(I(database)))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(I(database), I(CDC_ROLE)))
    with psycopg.connect(app_url(srv, database), autocommit=False) as conn:
        conn.execute(DDL)
        for table in TABLES:
            conn.execute(sql.SQL("alter table {} replica identity full").format(I(table)))
            conn.execute(sql.SQL("grant select on {} to {}").format(I(table), I(CDC_ROLE)))
        conn.execute(
            sql.SQL("create publication {} for table {}").format(
                I(publication), sql.SQL(", ").join(map(I, TABLES))
            )
        )
        _seed_rows(conn, inicio, seed)
        conn.commit()
    advance(srv, (fim - inicio).days + 1, database, seed=seed)
    return counts(srv, database)


def ensure(srv, database: str = DATABASE) -> bool:
    """The offline world's source: created (with its history) when missing. Returns whether it was."""
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        _ensure_role(conn, CDC_ROLE, _password("cdc"), replication=True)  # a rotated secret applies
    if exists(srv, database):
        return False
    create(srv, database)
    return True


def counts(srv, database: str = DATABASE) -> dict[str, int]:
    with psycopg.connect(app_url(srv, database)) as conn:
        return {
            t: conn.execute(sql.SQL("select count(*) from {}").format(I(t))).fetchone()[0] for t in TABLES
        }


def _seed_rows(conn: psycopg.Connection, inicio: date, seed: int) -> None:
    """Accounts and the first customers (the finance files' companies, three persons), the clock."""
    rng = random.Random(seed)
    start = _moment(rng, inicio - timedelta(days=1))
    for i, (banco, agencia, numero) in enumerate(CONTAS, start=1):
        conn.execute(
            "insert into contas values (%s, %s, %s, %s, %s, %s)",
            (i, banco, agencia, numero, f"Conta movimento {banco.split()[0]}", date(2019 + i, 3, 1)),
        )
    people = [(cpf(rng), nome, "fisica") for nome in PESSOAS[:3]]
    companies = [(doc, nome, "juridica") for doc, nome in CLIENTES]
    for i, (doc, nome, tipo) in enumerate(companies + people, start=1):
        municipio, uf = MUNICIPIOS[rng.randrange(len(MUNICIPIOS))]
        conn.execute(
            "insert into clientes values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (i, tipo, doc, nome, municipio, uf, start, start),
        )
    conn.execute("insert into simulacao values (%s)", (inicio - timedelta(days=1),))


# --------------------------------------------------------------------------------------------
# the simulation


@dataclass
class _State:
    dia: date
    clientes: list[int]
    documentos: set[str]
    #: open receivables: id -> (vencimento, valor)
    recebiveis: dict[int, tuple[date, Decimal]] = field(default_factory=dict)
    pagaveis: dict[int, tuple[date, Decimal]] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)


def _load_state(conn: psycopg.Connection) -> _State:
    (dia,) = conn.execute("select dia from simulacao").fetchone()
    state = _State(
        dia=dia,
        clientes=[r[0] for r in conn.execute("select id_cliente from clientes order by 1")],
        documentos={r[0] for r in conn.execute("select documento from clientes")},
    )
    for table, target in (("recebiveis", state.recebiveis), ("pagaveis", state.pagaveis)):
        key = "id_recebivel" if table == "recebiveis" else "id_pagavel"
        for ident, venc, valor in conn.execute(
            sql.SQL("select {}, data_vencimento, valor from {} where situacao = 'aberto' order by 1").format(
                I(key), I(table)
            )
        ):
            target[ident] = (venc, valor)
    for table in TABLES:
        key = {"clientes": "id_cliente", "contas": "id_conta", "recebiveis": "id_recebivel"}.get(
            table, "id_pagavel" if table == "pagaveis" else "id_pagamento"
        )
        (mx,) = conn.execute(
            sql.SQL("select coalesce(max({}), 0) from {}").format(I(key), I(table))
        ).fetchone()
        state.next_id[table] = mx + 1
    return state


def _new_id(state: _State, table: str) -> int:
    ident = state.next_id[table]
    state.next_id[table] += 1
    return ident


def _day(conn: psycopg.Connection, state: _State, day: date, seed: int) -> int:
    """One simulated day's changes (the caller commits them as one transaction); returns how many."""
    rng = random.Random(f"{seed}:{day.isoformat()}")
    changes = 0

    def run(query: str, params: tuple) -> None:
        nonlocal changes
        conn.execute(query, params)
        changes += 1

    # a new customer now and then (a person one time in four)
    if rng.random() < 0.08:
        ident = _new_id(state, "clientes")
        if rng.random() < 0.25:
            doc, nome, tipo = cpf(rng), PESSOAS[ident % len(PESSOAS)], "fisica"
        else:
            doc, nome, tipo = cnpj(ident), EMPRESAS_NOVAS[ident % len(EMPRESAS_NOVAS)], "juridica"
        if doc not in state.documentos:
            municipio, uf = MUNICIPIOS[rng.randrange(len(MUNICIPIOS))]
            at = _moment(rng, day)
            run(
                "insert into clientes values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (ident, tipo, doc, nome, municipio, uf, at, at),
            )
            state.clientes.append(ident)
            state.documentos.add(doc)
    # a customer moves
    if rng.random() < 0.3:
        municipio, uf = MUNICIPIOS[rng.randrange(len(MUNICIPIOS))]
        run(
            "update clientes set municipio = %s, sigla_uf = %s, atualizado_em = %s where id_cliente = %s",
            (municipio, uf, _moment(rng, day), rng.choice(state.clientes)),
        )
    # invoices issued
    issued = []
    for _ in range(rng.randint(3, 7)):
        ident = _new_id(state, "recebiveis")
        venc = day + timedelta(days=rng.choice([15, 28, 30, 45]))
        valor = _money(rng, 150, 18_000)
        run(
            "insert into recebiveis values (%s, %s, %s, %s, %s, %s, 'aberto', null)",
            (ident, rng.choice(state.clientes), f"NF-{100_000 + ident:06d}", valor, day, venc),
        )
        state.recebiveis[ident] = (venc, valor)
        issued.append(ident)
    # bills received
    for _ in range(rng.randint(2, 5)):
        ident = _new_id(state, "pagaveis")
        categoria = rng.choices(list(CREDORES), [5, 4, 1, 1, 1])[0]
        venc = day + timedelta(days=rng.choice([5, 10, 20, 30]))
        valor = _money(rng, 80, 9_000)
        run(
            "insert into pagaveis values (%s, %s, %s, %s, %s, %s, 'aberto', null)",
            (ident, rng.choice(CREDORES[categoria]), categoria, valor, day, venc),
        )
        state.pagaveis[ident] = (venc, valor)
    # payments received and made: what falls due is mostly settled around its due date
    for kind, items, limit in (("recebiveis", state.recebiveis, 6), ("pagaveis", state.pagaveis, 5)):
        due = [i for i, (venc, _) in items.items() if venc - timedelta(days=5) <= day and i not in issued]
        for ident in due:
            if limit == 0 or rng.random() > 0.4:
                continue
            limit -= 1
            _venc, valor = items.pop(ident)
            pid = _new_id(state, "pagamentos")
            receivable = kind == "recebiveis"
            run(
                "insert into pagamentos values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    pid,
                    rng.randint(1, len(CONTAS)),
                    ident if receivable else None,
                    None if receivable else ident,
                    "credito" if receivable else "debito",
                    valor,
                    rng.choice(["boleto", "ted", "pix"]),
                    _moment(rng, day),
                ),
            )
            key = "id_recebivel" if receivable else "id_pagavel"
            run(
                sql.SQL("update {} set situacao = 'pago', data_pagamento = %s where {} = %s").format(
                    I(kind), I(key)
                ),
                (day, ident),
            )
    # a cancellation now and then
    if state.recebiveis and rng.random() < 0.15:
        ident = rng.choice(sorted(set(state.recebiveis) - set(issued)) or sorted(state.recebiveis))
        state.recebiveis.pop(ident)
        run("update recebiveis set situacao = 'cancelado' where id_recebivel = %s", (ident,))
    if state.pagaveis and rng.random() < 0.05:
        ident = rng.choice(sorted(state.pagaveis))
        state.pagaveis.pop(ident)
        run("update pagaveis set situacao = 'cancelado' where id_pagavel = %s", (ident,))
    # an invoice entered by mistake today is deleted
    if issued and rng.random() < 0.3:
        ident = issued[-1]
        state.recebiveis.pop(ident, None)
        run("delete from recebiveis where id_recebivel = %s", (ident,))
    run("update simulacao set dia = %s", (day,))
    changes -= 1  # the clock is not a published change
    return changes


def advance(srv, days: int = 1, database: str = DATABASE, *, seed: int = SEED) -> int:
    """Simulate the next `days` days, one transaction each; returns the published changes made."""
    total = 0
    with psycopg.connect(app_url(srv, database), autocommit=False) as conn:
        state = _load_state(conn)
        conn.commit()
        for _ in range(days):
            state.dia = state.dia + timedelta(days=1)
            total += _day(conn, state, state.dia, seed)
            conn.commit()
    return total


def main(argv: list[str] | None = None) -> int:
    from mirante import db

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="(re)create razao_origem with its history to REFERENCE_END")
    adv = sub.add_parser("advance", help="simulate more days")
    adv.add_argument("--dias", type=int, default=1)
    args = parser.parse_args(argv)
    srv = db.server()
    if args.command == "create":
        print(create(srv))
    else:
        print(f"{advance(srv, args.dias)} changes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
