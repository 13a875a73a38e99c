"""PEC source emulator (emulators/pec/) against the real server of tests/conftest.py: the schema is
the documented one, documents are valid, facts fall in the window, add_day appends, and the source
role can read but not write."""

from __future__ import annotations

import csv
import os
import random
import re
import secrets
import subprocess
import sys
from datetime import date, timedelta
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import errors, sql

from mirante import config
from mirante.emulators import pec

pytestmark = pytest.mark.integration

#: the PEC column list itself (docs/pec-schema.md), read at runtime from beside the shared data
SCHEMA_DOC = config.shared_data_dir().parent / "docs" / "pec-schema-columns.txt"
ID = "2700102"  # Água Branca/AL: an interior municipality, default volume
OTHER_IDS = ("1100015", "1100023")  # Alta Floresta D'Oeste/RO, Ariquemes/RO
END = date(2025, 1, 31)
DAYS = 730
START = END - timedelta(days=DAYS - 1)
key = pec._tempo_key

FACTS_WITH_TEMPO = (
    "tb_fat_cad_individual",
    "tb_fat_atendimento_individual",
    "tb_fat_vacinacao",
    "tb_fat_vacinacao_vacina",
    "tb_fat_visita_domiciliar",
)
CITIZEN_FACTS = (
    "tb_fat_cidadao_pec",
    "tb_fat_cad_individual",
    "tb_fat_atendimento_individual",
    "tb_fat_vacinacao",
    "tb_fat_visita_domiciliar",
)
CNS_COLUMNS = (
    *((t, "nu_cns") for t in CITIZEN_FACTS),
    ("tb_fat_cad_individual", "nu_cns_responsavel"),
    ("tb_dim_profissional", "nu_cns"),
)
CPF_COLUMNS = (
    *((t, "nu_cpf_cidadao") for t in CITIZEN_FACTS),
    ("tb_fat_cad_individual", "nu_cpf_responsavel"),
)


def _role_verifier(server) -> str | None:
    with psycopg.connect(server.admin("postgres")) as c:
        row = c.execute("select rolpassword from pg_authid where rolname = %s", (pec.SOURCE_ROLE,)).fetchone()
    return row[0] if row else None


@pytest.fixture(scope="module")
def pec_db(server):
    """One default municipality. The source role is shared by every pec_ database of the server:
    its previous password (SCRAM verifier) is put back at the end, or, if the role did not exist and
    no other pec_ database remains, the role and the template are dropped."""
    saved = _role_verifier(server)
    password = secrets.token_urlsafe(18)
    counts = pec.create_municipio(server, ID, password, end=END)
    yield SimpleNamespace(
        srv=server, password=password, counts=counts, url=pec.connection_url(server, ID, password)
    )
    for i in (ID, *OTHER_IDS):
        pec.drop_municipio(server, i)
    if saved is not None:
        with psycopg.connect(server.admin("postgres"), autocommit=True) as c:
            c.execute(
                sql.SQL("alter role {} password {}").format(
                    sql.Identifier(pec.SOURCE_ROLE), sql.Literal(saved)
                )
            )
    elif not pec.list_municipios(server):
        pec.drop_all(server)


@pytest.fixture
def conn(pec_db):
    with psycopg.connect(pec_db.srv.admin(pec.database_name(ID)), autocommit=True) as c:
        yield c


def values(conn, table: str, column: str) -> list:
    return [r[0] for r in conn.execute(f"select {column} from {table} where {column} is not null")]


def scalar(conn, query: str, params: tuple = ()):
    return conn.execute(query, params).fetchone()[0]


# --------------------------------------------------------------------------------------------
# schema


def _doc_type(declared: str) -> tuple[str, int | None]:
    if m := re.fullmatch(r"varchar\((\d+)\)", declared):
        return "character varying", int(m.group(1))
    return {"timestamp": "timestamp without time zone"}.get(declared, declared), None


def documented_tables() -> dict[str, list[tuple[str, str, int | None, bool]]]:
    """Parsed here, independently of the emulator: name -> [(column, data_type, length, pk)]."""
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    tables = {}
    for m in re.finditer(r"^## (\w+) \((\d+) cols\)\n(.+)$", text, re.M):
        cols = []
        for part in m.group(3).split(","):
            name, declared = part.strip().split(" ", 1)
            pk = declared.endswith(" PK")
            declared = declared.removesuffix(" PK").removesuffix("(FK)")
            cols.append((name, *_doc_type(declared), pk))
        assert len(cols) == int(m.group(2)), m.group(1)
        tables[m.group(1)] = cols
    return tables


def actual_columns(conn, table: str) -> list[tuple[str, str, int | None, bool]]:
    pk = {
        r[0]
        for r in conn.execute(
            "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
            "and a.attnum = any(i.indkey) where i.indrelid = %s::regclass and i.indisprimary",
            (f"public.{table}",),
        )
    }
    return [
        (n, t, length, n in pk)
        for n, t, length in conn.execute(
            "select column_name, data_type, character_maximum_length from information_schema.columns "
            "where table_schema = 'public' and table_name = %s order by ordinal_position",
            (table,),
        )
    ]


def test_tables_and_columns_match_the_documentation(conn):
    doc = documented_tables()
    assert len(doc) == 13 and len(doc["tb_fat_cad_individual"]) == 134
    for table, cols in doc.items():
        assert actual_columns(conn, table) == cols, table
    extra = {
        "tb_dim_imunobiologico": [
            ("co_seq_dim_imunobiologico", "bigint", None, True),
            ("nu_identificador", "character varying", 20, False),
            ("sg_imunobiologico", "character varying", 100, False),
            ("no_imunobiologico", "character varying", 500, False),
        ],
        "tb_dim_dose_imunobiologico": [
            ("co_seq_dim_dose_imunobiologico", "bigint", None, True),
            ("no_dose_imunobiologico", "character varying", 500, False),
        ],
        "tb_dim_sexo": [
            ("co_seq_dim_sexo", "bigint", None, True),
            ("ds_sexo", "character varying", 100, False),
        ],
        "tb_dim_desfecho_visita": [
            ("co_seq_dim_desfecho_visita", "bigint", None, True),
            ("ds_desfecho_visita", "character varying", 100, False),
        ],
    }
    for table, cols in extra.items():
        assert actual_columns(conn, table) == cols, table
    tables = {
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public'"
        )
    }
    assert tables == set(doc) | set(extra)
    sequences = {r[0] for r in conn.execute("select sequencename from pg_sequences")}
    assert sequences == {f"seq_{t}" for t in pec.FACT_TABLES}


# --------------------------------------------------------------------------------------------
# contents


def test_counts(pec_db, conn):
    for table, n in pec_db.counts.items():
        assert n > 0, table
        assert scalar(conn, f"select count(*) from {table}") == n, table
    facts = sum(pec_db.counts[t] for t in pec.FACT_TABLES)
    assert 1_500 <= facts <= 4_500, facts
    assert pec_db.counts["tb_fat_vacinacao_vacina"] >= pec_db.counts["tb_fat_vacinacao"]
    for table in pec.FACT_TABLES:  # sequences continue after the last key
        pk = pec._pk(table)
        last, max_pk = conn.execute(
            f"select (select last_value from seq_{table}), max({pk}) from {table}"
        ).fetchone()
        assert last == max_pk == pec_db.counts[table]


def test_documents_and_identifiers_are_valid(conn):
    all_cns = [v for t, c in CNS_COLUMNS for v in values(conn, t, c)]
    bad = [v for v in all_cns if not pec.cns_valido(v)]
    assert all_cns and not bad
    citizens = values(conn, "tb_fat_cidadao_pec", "nu_cns")
    assert len(set(citizens)) == len(citizens)
    assert any(c[0] in "12" for c in citizens) and any(c[0] in "789" for c in citizens)

    all_cpf = [v for t, c in CPF_COLUMNS for v in values(conn, t, c)]
    assert all_cpf and not [v for v in all_cpf if not pec.cpf_valido(v)]
    cpfs = values(conn, "tb_fat_cidadao_pec", "nu_cpf_cidadao")
    assert len(set(cpfs)) == len(cpfs)

    with (config.shared_data_dir() / "reference" / "municipios.csv").open(encoding="utf-8-sig") as fh:
        ddd = next(r["ddd"] for r in csv.DictReader(fh) if r["codigo_ibge"] == ID)
    phones = values(conn, "tb_fat_cidadao_pec", "nu_telefone_celular") + values(
        conn, "tb_fat_cad_individual", "nu_celular"
    )
    assert phones and all(re.fullmatch(rf"\({ddd}\) 9\d{{4}}-\d{{4}}", p) for p in phones), phones[:5]
    names = values(conn, "tb_fat_cidadao_pec", "no_cidadao")
    assert all(n == n.upper() and len(n.split()) >= 2 for n in names)
    assert all(re.fullmatch(r"\d{7}", v) for v in values(conn, "tb_dim_unidade_saude", "nu_cnes"))
    assert all(re.fullmatch(r"\d{10}", v) for v in values(conn, "tb_dim_equipe", "nu_ine"))
    assert {r[0] for r in conn.execute("select nu_cbo from tb_dim_cbo")} >= {
        "225142",
        "223565",
        "515105",
        "322245",
        "223293",
    }
    municipio = conn.execute("select co_ibge, no_municipio from tb_dim_municipio").fetchall()
    assert municipio == [(ID, "Água Branca")]


def _weighted_sum_ok(cns: str) -> bool:  # independent check: weights 15..1, sum divisible by 11
    return sum(int(d) * w for d, w in zip(cns, range(15, 0, -1), strict=False)) % 11 == 0


def test_validators_accept_valid_and_reject_wrong_check_digits():
    assert pec.cns_valido("100000000000007")  # definitive, worked by hand: 15 % 11 = 4 -> dv 7
    assert pec.cns_valido("700000000000005")  # provisional: 105 + 5 = 110
    assert pec.cpf_valido("52998224725") and pec.cpf_valido("529.982.247-25")
    for wrong in (
        "100000000000008",
        "100000000000107",
        "700000000000006",
        "300000000000007",
        "10000000000007",
        "10000000000000x",
        "",
        None,
        100000000000008,
    ):
        assert not pec.cns_valido(wrong), wrong
    for wrong in (
        "52998224724",
        "52998224715",
        "11111111111",
        "5299822472",
        "529982247250",
        "5299822472a",
        None,
    ):
        assert not pec.cpf_valido(wrong), wrong
    rng = random.Random(1)
    for i in range(500):
        cns = pec.gerar_cns(rng, provisorio=i % 2 == 1)
        assert pec.cns_valido(cns) and _weighted_sum_ok(cns) and cns[0] in ("789" if i % 2 else "12")
        for d in "0123456789":
            if d != cns[-1]:
                assert not pec.cns_valido(cns[:-1] + d)
        cpf = pec.gerar_cpf(rng)
        assert pec.cpf_valido(cpf)
        for pos in (9, 10):
            for d in "0123456789":
                if d != cpf[pos]:
                    assert not pec.cpf_valido(cpf[:pos] + d + cpf[pos + 1 :])


def test_facts_fall_in_the_window_and_reference_citizens(conn):
    lo, hi = key(START), key(END)
    assert (
        scalar(conn, "select count(*) from tb_dim_tempo where co_seq_dim_tempo between %s and %s", (lo, hi))
        == DAYS
    )
    assert (
        scalar(
            conn,
            "select count(*) from tb_dim_tempo "
            "where dt_registro <> to_date(co_seq_dim_tempo::text, 'YYYYMMDD')",
        )
        == 0
    )
    for table in FACTS_WITH_TEMPO:
        mn, mx, orphans = conn.execute(
            f"select min(co_dim_tempo), max(co_dim_tempo), count(*) filter "
            f"(where t.co_seq_dim_tempo is null) from {table} f "
            f"left join tb_dim_tempo t on t.co_seq_dim_tempo = f.co_dim_tempo"
        ).fetchone()
        assert lo <= mn <= mx <= hi and orphans == 0, table
    for table in ("tb_fat_atendimento_individual", "tb_fat_vacinacao"):
        rows = conn.execute(
            f"select co_dim_tempo, dt_inicial_atendimento, dt_final_atendimento "
            f"from {table} order by {pec._pk(table)}"
        ).fetchall()
        assert all(key(start.date()) == t and end > start for t, start, end in rows), table
        assert [r[1] for r in rows] == sorted(r[1] for r in rows), "co_seq follows time"
    for table in CITIZEN_FACTS[1:]:
        mismatched = scalar(
            conn,
            f"""
            select count(*) from {table} f
            left join tb_fat_cidadao_pec c on c.co_seq_fat_cidadao_pec = f.co_fat_cidadao_pec
            where c.co_seq_fat_cidadao_pec is null or f.nu_cns is distinct from c.nu_cns
               or f.nu_cpf_cidadao is distinct from c.nu_cpf_cidadao""",
        )
        assert mismatched == 0, table
    assert (
        scalar(
            conn,
            """
        select count(*) from tb_fat_vacinacao v where not exists
            (select from tb_fat_vacinacao_vacina d where d.co_fat_vacinacao = v.co_seq_fat_vacinacao)""",
        )
        == 0
    )
    assert (
        scalar(
            conn,
            """
        select count(*) from tb_fat_vacinacao_vacina d
        left join tb_dim_imunobiologico i on i.co_seq_dim_imunobiologico = d.co_dim_imunobiologico
        left join tb_fat_vacinacao v on v.co_seq_fat_vacinacao = d.co_fat_vacinacao
        where i.co_seq_dim_imunobiologico is null or v.co_dim_tempo <> d.co_dim_tempo""",
        )
        == 0
    )
    # health units are closed on Sundays; the childhood calendar and the flu campaign show up
    assert (
        scalar(
            conn,
            """
        select count(*) from tb_fat_atendimento_individual f
        join tb_dim_tempo t on t.co_seq_dim_tempo = f.co_dim_tempo
        where t.ds_dia_semana = 'Domingo'""",
        )
        == 0
    )
    vaccines = {
        r[0]
        for r in conn.execute("""
        select distinct i.sg_imunobiologico from tb_fat_vacinacao_vacina d
        join tb_dim_imunobiologico i on i.co_seq_dim_imunobiologico = d.co_dim_imunobiologico""")
    }
    assert vaccines >= {"Penta", "INF"}


def test_generation_is_deterministic():
    a, meta = pec.generate(ID, days=60, end=END)
    b, _ = pec.generate(ID, days=60, end=END)
    c, _ = pec.generate(ID, days=60, end=END, seed=meta["seed"] + 1)
    assert a == b and a != c
    assert meta == {
        "seed": pec.default_seed(ID),
        "per_day": pec.default_per_day(ID),
        "start": (END - timedelta(days=59)).isoformat(),
        "end": END.isoformat(),
    }


# --------------------------------------------------------------------------------------------
# add_day


def test_add_day_appends_the_days_records(pec_db, conn):
    day = date(2025, 2, 3)  # a Monday after the window
    before = {
        t: conn.execute(f"select coalesce(max({pec._pk(t)}), 0) from {t}").fetchone()[0]
        for t in pec.FACT_TABLES
    }
    counts = pec.add_day(pec_db.srv, ID, day, per_day=5)
    assert counts["tb_dim_tempo"] == 1
    assert conn.execute(
        "select dt_registro, ds_dia_semana from tb_dim_tempo where co_seq_dim_tempo = %s", (key(day),)
    ).fetchone() == (day, "Segunda-feira")
    for table in (
        "tb_fat_atendimento_individual",
        "tb_fat_vacinacao",
        "tb_fat_vacinacao_vacina",
        "tb_fat_visita_domiciliar",
    ):
        assert counts[table] > 0, table
    for table in pec.FACT_TABLES:
        pk = pec._pk(table)
        new = [
            r[0]
            for r in conn.execute(f"select {pk} from {table} where {pk} > %s order by 1", (before[table],))
        ]
        assert new == list(range(before[table] + 1, before[table] + 1 + counts[table])), table
        if table in FACTS_WITH_TEMPO and new:
            assert {
                r[0]
                for r in conn.execute(
                    f"select distinct co_dim_tempo from {table} where {pk} > %s", (before[table],)
                )
            } == {key(day)}
    stamps = conn.execute(
        "select min(dt_inicial_atendimento), max(dt_inicial_atendimento) from "
        "tb_fat_atendimento_individual where co_dim_tempo = %s",
        (key(day),),
    ).fetchone()
    assert all(s.date() == day for s in stamps)
    # a second call for the same day brings another batch (new keys, new fichas)
    again = pec.add_day(pec_db.srv, ID, day, per_day=5)
    assert again["tb_dim_tempo"] == 0 and sum(again.values()) > 0
    assert (
        scalar(conn, "select count(*) - count(distinct nu_uuid_ficha) from tb_fat_atendimento_individual")
        == 0
    )


def test_add_day_continues_a_window_exactly(pec_db):
    """create(days=N, end=E) + add_day(E+1) + add_day(E+2) == create(days=N+2, end=E+2)."""
    other = OTHER_IDS[0]
    pec.create_municipio(pec_db.srv, other, pec_db.password, days=20, end=END)
    for k in (1, 2):
        pec.add_day(pec_db.srv, other, END + timedelta(days=k))
    expected, _ = pec.generate(other, days=22, end=END + timedelta(days=2))
    with psycopg.connect(pec_db.srv.admin(pec.database_name(other))) as c:
        for table, rows in expected.items():
            got = c.execute(f"select {', '.join(pec.COLUMN_NAMES[table])} from {table} order by 1").fetchall()
            assert got == sorted(rows, key=lambda r: r[0]), table
    pec.drop_municipio(pec_db.srv, other)


# --------------------------------------------------------------------------------------------
# the source role


def test_source_role_reads_with_its_password_only(pec_db):
    with psycopg.connect(pec_db.url, connect_timeout=10) as c:
        for table in pec.TABLES:
            assert c.execute(f"select count(*) from {table}").fetchone()[0] > 0
        assert c.execute("select current_user").fetchone()[0] == pec.SOURCE_ROLE
    srv = pec_db.srv
    assert pec_db.url == (
        f"postgresql://pec_leitura:{pec_db.password}@{srv.host}:{srv.port}/pec_{ID}"
        f"?sslmode={srv.ssl['sslmode']}&sslrootcert={srv.ssl['sslrootcert']}"
    )
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pec.connection_url(pec_db.srv, ID, pec_db.password + "x"), connect_timeout=10)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pec_db.url.replace(f"/pec_{ID}", f"/{pec.TEMPLATE_DB}"), connect_timeout=10)


def test_source_role_cannot_write(pec_db):
    with psycopg.connect(pec_db.url, autocommit=True) as c:
        with pytest.raises(errors.ReadOnlySqlTransaction):
            c.execute("insert into tb_dim_sexo values (9, 'x')")
        c.execute("set default_transaction_read_only = off")  # the privileges are the real guard
        for stmt in (
            "insert into tb_dim_sexo values (9, 'x')",
            "update tb_fat_cidadao_pec set st_deletar = 1",
            "delete from tb_fat_visita_domiciliar",
            "truncate tb_fat_vacinacao",
            "create table x (i int)",
            "create temp table x (i int)",
            "select nextval('seq_tb_fat_vacinacao')",
            "drop table tb_dim_cbo",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                c.execute(stmt)


# --------------------------------------------------------------------------------------------
# many databases, listing, dropping, CLI


def test_create_many_list_and_drop(pec_db):
    result = pec.create_many(pec_db.srv, list(OTHER_IDS), pec_db.password, days=15, end=END)
    assert list(result) == list(OTHER_IDS)
    assert all(sum(c.values()) > 0 for c in result.values())
    assert set(OTHER_IDS) | {ID} <= set(pec.list_municipios(pec_db.srv))
    for i in OTHER_IDS:
        pec.drop_municipio(pec_db.srv, i)
    assert not set(OTHER_IDS) & set(pec.list_municipios(pec_db.srv))
    with pytest.raises(ValueError):
        pec.create_municipio(pec_db.srv, "9999999", pec_db.password)
    assert pec.selection(5) == ["3550308", "3304557", "5300108", "2304400", "2927408"]


def test_cli(pec_db, monkeypatch, tmp_path, capsys):
    other = OTHER_IDS[1]
    env = dict(os.environ, MIRANTE_ESUS_PASSWORD=pec_db.password)

    def cli(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mirante.emulators.pec", *args],
            capture_output=True,
            text=True,
            timeout=120,
            **kw,
        )

    # no password anywhere (the variable nor .dlt/secrets.toml, which a session may have written):
    # usage error, status 2, naming the setting
    monkeypatch.delenv("MIRANTE_ESUS_PASSWORD", raising=False)
    monkeypatch.setattr(config, "secrets_file", lambda: tmp_path / "secrets.toml")
    with pytest.raises(SystemExit) as refused:
        pec.main(["create", "--ids", other])
    assert refused.value.code == 2
    assert "MIRANTE_ESUS_PASSWORD" in capsys.readouterr().err
    done = cli("create", "--ids", other, "--days", "10", "--end", "2025-01-31", env=env)
    assert done.returncode == 0, done.stderr
    assert f"pec_{other}:" in done.stdout
    assert other in cli("list", env=env).stdout.split()
    added = cli("add-day", "--date", "2025-02-03", "--ids", other, "--per-day", "3", env=env)
    assert added.returncode == 0 and "tb_dim_tempo=1" in added.stdout, added.stderr
    assert cli("drop", "--ids", other, env=env).returncode == 0
    assert other not in pec.list_municipios(pec_db.srv)
