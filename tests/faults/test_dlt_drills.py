"""Fault drills of the dlt loaders (SNIS, IBGE, CRM, ERP, BCB, finance history files): a run is killed with SIGKILL during
dlt's extract, during its normalize and during its load (after load jobs committed, others left),
or the database is stopped and started in the middle of the load; then a normal run. Each drill
checks:

- raw = source, by key, for every table of the source (no missing key, no duplicate; child tables
  by parent key and position, so an orphan or a doubled line shows);
- the killed run's load packages were settled (`mirante.pipelines.settle_pending`: resumed or
  dropped as the loader says) and nothing is left pending;
- every mart of the source's domain equals a clean run's (md5 of its sorted rows; these marts
  carry no load time or run id); the finance domain has no mart of its files yet: its staging
  models are compared instead.

Between the killed run and the normal one the CRM and ERP worlds move on two days: a rerun that
only finished the killed run's package (dlt's own `run` with a package pending) would miss them.
The clean runs: the same sources, the same steps, never interrupted, in the same database before
the drills (one baseline per domain, shared by all its drills).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path

import dlt
import psycopg
import pytest
import requests
from psycopg import sql

from mirante import config, db
from mirante.emulators.world import environ

from ..helpers import SNIS_FULL, SNIS_SAMPLE, own_database, reset_raw

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DRIVER = Path(__file__).with_name("dlt_driver.py")
DATABASE = "mirante_test_drill_dlt"
MARTS = {
    "saneamento": (
        "dim_municipio",
        "fct_saneamento_prestador_ano",
        "agg_saneamento_uf_ano",
        "agg_saneamento_brasil_ano",
    ),
    "comercial": (
        "vendas_ano_mes",
        "vendas_uf",
        "vendas_modalidade",
        "kpi_comercial_diario",
        "receita_recorrente_mensal",
    ),
    # the BCB mart, and the finance history files' staging models (schema.model): no mart reads them yet
    "financas": (
        "agg_ipca_ano",
        "staging.stg_arquivos_financeiros__extratos",
        "staging.stg_arquivos_financeiros__faturas",
    ),
}
DOMAIN = {
    "snis": "saneamento",
    "ibge": "saneamento",
    "crm": "comercial",
    "erp": "comercial",
    "bcb": "financas",
    "arquivos_financeiros": "financas",
}
SCHEMA = {loader: f"raw_{loader}" for loader in DOMAIN}
#: a small commercial world (two months, 300 customers): a load takes a few seconds
HOJE = date(2025, 2, 28)
WORLD = {
    "seed": 42,
    "inicio": date(2025, 1, 1),
    "hoje": HOJE,
    "n_clientes": 300,
    "pedidos_dia": 10.0,
    "negocios_dia": 4.0,
}
#: days the commercial world moves before the killed run, and between it and the normal run
DAYS_BEFORE, DAYS_AFTER = 3, 2


def pipeline_name(loader: str) -> str:
    return f"drill_{loader}"


def pending(loader: str) -> list[str]:
    """The load ids of the packages the loader's dlt pipeline holds not yet loaded (a killed run's)."""
    name = pipeline_name(loader)
    if not (config.home() / "dlt" / name).exists():
        return []
    pipeline = dlt.attach(name, pipelines_dir=str(config.home() / "dlt"))
    if not pipeline.has_pending_data:
        return []
    return sorted({*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()})


def loaded(srv, loader: str, load_ids: list[str]) -> list[str]:
    """Those of `load_ids` that completed in the destination (status 0 in _dlt_loads)."""
    with psycopg.connect(srv.admin()) as conn:
        return sorted(
            r[0]
            for r in conn.execute(
                sql.SQL("select load_id from {}._dlt_loads where status = 0 and load_id = any(%s)").format(
                    sql.Identifier(SCHEMA[loader])
                ),
                (load_ids,),
            )
        )


# -- sources ---------------------------------------------------------------------------------------


class Sources:
    """The offline sources of the drills and what each loader's normal run is."""

    def __init__(self, stack: ExitStack, tmp: Path):
        from mirante.emulators import bcb, ibge

        self.stack = stack
        self.snis_dir = tmp / "snis"
        self.snis_dir.mkdir()
        # finance history files: a first version (one month), then the folder as the drill finds it
        # (three months; the first month's files re-exported with other bytes and bad rows)
        from mirante.emulators.arquivos_financeiros import generate

        self.financas_dir = tmp / "financas"
        self.financas_dir.mkdir()
        self.financas_v1 = generate(tmp / "financas_v1", seed=13, meses=1, malformados=1)
        self.financas_v2 = generate(tmp / "financas_v2", seed=13, meses=3, malformados=2)
        self._financas_keys = None
        self.ibge = stack.enter_context(ibge.start())
        self.bcb = stack.enter_context(bcb.start())
        self.crm = self.erp = None
        self._snis_keys = None

    # commercial emulators: a fresh world per drill (they move on)
    @contextmanager
    def comercial(self):
        from mirante.emulators import crm, erp
        from mirante.emulators.comercial import Mundo

        with crm.start(mundo=Mundo(**WORLD)) as c, erp.start(mundo=Mundo(**WORLD)) as e:
            self.crm, self.erp = c, e
            try:
                with environ(self.env()):
                    yield
            finally:
                self.crm = self.erp = None

    def advance(self, dias: int) -> None:
        self.crm.advance(dias)
        self.erp.advance(dias)

    def env(self) -> dict[str, str]:
        from mirante.emulators import erp

        out = {
            "DRILL_SNIS_DIR": str(self.snis_dir),
            "MIRANTE_IBGE_BASE_URL": self.ibge.base_url,
            "MIRANTE_ARQUIVOS_FINANCEIROS_DIR": str(self.financas_dir),
            "MIRANTE_BCB_BASE_URL": self.bcb.base_url,
        }
        if self.crm is not None:
            out |= {
                "MIRANTE_CRM_BASE_URL": self.crm.base_url,
                "MIRANTE_CRM_USER_KEY": self.crm.user_key,
                "MIRANTE_ERP_BASE_URL": self.erp.base_url,
                "MIRANTE_ERP_COMPANY_DB": erp.EMULATOR_COMPANY_DB,
                "MIRANTE_ERP_USERNAME": erp.EMULATOR_USERNAME,
                "MIRANTE_ERP_PASSWORD": erp.EMULATOR_PASSWORD,
            }
        return out

    def snis_files(self, *paths: Path) -> None:
        """The export folder holds exactly these files."""
        for p in self.snis_dir.iterdir():
            p.unlink()
        for p in paths:
            (self.snis_dir / p.name).symlink_to(p)

    def financas_files(self, paths: list[Path]) -> None:
        """The finance folder holds exactly these files."""
        for p in self.financas_dir.iterdir():
            p.unlink()
        for p in paths:
            (self.financas_dir / p.name).symlink_to(p)
        self._financas_keys = None

    def load(self, loader: str):
        """The loader's normal run, in this process (its entry point settles pending packages)."""
        name = pipeline_name(loader)
        if loader == "arquivos_financeiros":
            from mirante.loaders import arquivos_financeiros

            settings = arquivos_financeiros.read_settings(self.financas_dir)
            return arquivos_financeiros.LOADER.load(settings, pipeline_name=name)
        if loader == "snis":
            from mirante.loaders import snis

            return snis.LOADER.load(snis.read_settings(self.snis_dir), pipeline_name=name)
        if loader == "ibge":
            from mirante.loaders import ibge

            return ibge.LOADER.load(ibge.read_settings(self.ibge.base_url), pipeline_name=name)
        if loader == "bcb":
            from mirante.loaders import bcb

            return bcb.LOADER.load(bcb.read_settings(self.bcb.base_url), pipeline_name=name)
        if loader == "crm":
            from mirante.loaders import crm

            return crm.LOADER.load(
                crm.read_settings(self.crm.base_url, self.crm.user_key), pipeline_name=name
            )
        from mirante.loaders import erp

        return erp.LOADER.load(pipeline_name=name)

    # keys at the source: {table: [key, ...]} (lists: a duplicate would show in the Counter)
    def keys(self, loader: str) -> dict[str, list[tuple]]:
        if loader == "snis":
            return self._snis()
        if loader == "arquivos_financeiros":
            return self._financas()
        if loader == "ibge":
            return {
                t: [(str(r["id"]),) for r in requests.get(f"{self.ibge.base_url}/{t}", timeout=60).json()]
                for t in ("regioes", "estados", "municipios")
            }
        if loader == "bcb":
            return {"series": self._bcb()}
        if loader == "crm":
            contacts = self.crm.records("Contacts")
            return {
                "contacts": [(str(r["Id"]),) for r in contacts],
                "deals": [(str(r["Id"]),) for r in self.crm.records("Deals")],
                "interactions": [(str(r["Id"]),) for r in self.crm.records("Interactions")],
                "contacts__phones": [
                    (str(r["Id"]), str(i)) for r in contacts for i in range(len(r["Phones"]))
                ],
            }
        docs = self.erp.state.documents()
        out = {}
        for table, entity in (("orders", "Orders"), ("invoices", "Invoices")):
            out[table] = [(str(d["DocEntry"]),) for d in docs[entity]]
            out[f"{table}__document_lines"] = [
                (str(d["DocEntry"]), str(line["LineNum"]))
                for d in docs[entity]
                for line in d["DocumentLines"]
            ]
        return out

    def _bcb(self) -> list[tuple]:
        """(code, ISO date) of every observation the loader asks the emulator for: the configured
        series from the first date on (the emulator's dates are all in the past)."""
        from datetime import datetime

        from mirante.loaders.bcb import settings

        out = []
        for code in settings.SERIES:
            for item in self.bcb.series[code]:
                day = datetime.strptime(item["data"], "%d/%m/%Y").date()
                if day >= settings.INITIAL_DATE:
                    out.append((str(code), day.isoformat()))
        return out

    def _snis(self) -> dict[str, list[tuple]]:
        if self._snis_keys is None:
            from mirante.loaders.snis.parser import parse_export

            keys, names = set(), []
            for path in sorted(self.snis_dir.iterdir()):
                export = parse_export(path)
                names.append((export.name,))
                for chunk in export.chunks:
                    keys |= {
                        (str(a), str(p))
                        for a, p in zip(
                            chunk.column("ano_referencia").to_pylist(),
                            chunk.column("codigo_prestador").to_pylist(),
                            strict=False,
                        )
                    }
            # a key in both files is one row (merge on the grain)
            self._snis_keys = {"agua_esgoto_agregado": sorted(keys), "arquivos": names}
        return self._snis_keys

    def _financas(self) -> dict[str, list[tuple]]:
        if self._financas_keys is None:
            from mirante.loaders.arquivos_financeiros.parser import parse_file

            out = {"extratos": [], "faturas": [], "quarentena": [], "arquivos": []}
            for path in sorted(self.financas_dir.iterdir()):
                f = parse_file(path)
                out["arquivos"].append((f.name,))
                table = "extratos" if f.kind == "extrato" else "faturas"
                out[table] += [(f.name, str(r["linha"])) for r in f.rows]
                out["quarentena"] += [(f.name, str(q.linha)) for q in f.quarantine]
            self._financas_keys = out
        return self._financas_keys


#: keys in raw: {table: SQL giving the same key tuples as Sources.keys}
RAW_KEYS = {
    "snis": {
        "agua_esgoto_agregado": "select ano_referencia, codigo_prestador from raw_snis.agua_esgoto_agregado",
        "arquivos": "select arquivo from raw_snis.arquivos",
    },
    "ibge": {t: f"select id from raw_ibge.{t}" for t in ("regioes", "estados", "municipios")},
    "arquivos_financeiros": {
        **{
            t: f"select arquivo, linha from raw_arquivos_financeiros.{t}"
            for t in ("extratos", "faturas", "quarentena")
        },
        "arquivos": "select arquivo from raw_arquivos_financeiros.arquivos",
    },
    "bcb": {"series": "select codigo_serie, data from raw_bcb.series"},
    "crm": {
        "contacts": "select id from raw_crm.contacts",
        "deals": "select id from raw_crm.deals",
        "interactions": "select id from raw_crm.interactions",
        "contacts__phones": "select c.id, p._dlt_list_idx from raw_crm.contacts__phones p "
        "left join raw_crm.contacts c on c._dlt_id = p._dlt_parent_id",
    },
    "erp": {
        **{t: f"select doc_entry from raw_erp.{t}" for t in ("orders", "invoices")},
        **{
            f"{t}__document_lines": f"select p.doc_entry, l.line_num from raw_erp.{t}__document_lines l "
            f"left join raw_erp.{t} p on p._dlt_id = l._dlt_parent_id"
            for t in ("orders", "invoices")
        },
    },
}


def compare_keys(srv, sources: Sources, loader: str) -> dict[str, dict[str, int]]:
    """{table: {"missing": n, "duplicates": n, "extra": n}} of raw against the source."""
    expected = sources.keys(loader)
    out = {}
    with psycopg.connect(srv.admin()) as conn:
        for table, query in RAW_KEYS[loader].items():
            try:
                raw = Counter(
                    tuple(None if v is None else str(v) for v in row) for row in conn.execute(query)
                )
            except psycopg.errors.UndefinedTable:  # not loaded yet
                conn.rollback()
                raw = Counter()
            source = Counter(expected[table])
            assert max(source.values(), default=1) == 1, f"the source repeats a key of {table}"
            out[table] = {
                "missing": sum(1 for k in source if k not in raw),
                "duplicates": sum(n - 1 for k, n in raw.items() if n > 1),
                "extra": sum(1 for k in raw if k not in source),
            }
    return out


def build_marts(srv, domain: str) -> dict[str, str]:
    """dbt run of the domain's marts (and what they need) in MIRANTE_DB, then {mart: rows:md5 of
    the rows sorted}."""
    from dbt.cli.main import dbtRunner

    from mirante.orchestration.resources import DBT_PROJECT_DIR

    db.export_env(srv)
    result = dbtRunner().invoke(
        [
            "run",
            "--quiet",
            "--select",
            *(f"+{m.split('.')[-1]}" for m in MARTS[domain]),
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ]
    )
    assert result.success, f"dbt run failed: {result.exception}"
    out = {}
    with psycopg.connect(srv.url("transformer")) as conn:
        for mart in MARTS[domain]:
            schema, name = mart.split(".") if "." in mart else ("marts", mart)
            out[mart] = conn.execute(
                sql.SQL(
                    "select count(*) || ':' || md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                    "from {}.{} t"
                ).format(sql.Identifier(schema), sql.Identifier(name))
            ).fetchone()[0]
    assert all(not h.startswith("0:") for h in out.values()), out
    return out


def fresh(srv, loader: str) -> None:
    """An empty raw schema for the loader and no local pipeline state."""
    reset_raw(srv, SCHEMA[loader], (pipeline_name(loader),))


@contextmanager
def world(sources: Sources, loader: str):
    """The drill's sources, the loader's first normal run on them, then the day's changes:
    SNIS loads the Alagoas sample first, then the folder holds both exports; the commercial
    worlds move on DAYS_BEFORE days; the finance folder holds its first version, then the second
    (new months, the first month's files replaced). IBGE does not change."""
    if DOMAIN[loader] == "comercial":
        with sources.comercial():
            sources.load(loader)
            sources.advance(DAYS_BEFORE)
            yield
    else:
        if loader == "snis":
            sources.snis_files(SNIS_SAMPLE)
            sources.load(loader)
            sources.snis_files(SNIS_FULL, SNIS_SAMPLE)
        if loader == "arquivos_financeiros":
            sources.financas_files(sources.financas_v1)
            sources.load(loader)
            sources.financas_files(sources.financas_v2)
        yield


@pytest.fixture(scope="module")
def drills(server, tmp_path_factory):
    """The drill database, the sources, and the marts of a clean run per domain: every source
    loaded as the drills do it (first run, changes, second run), never interrupted."""
    with ExitStack() as stack:
        srv = stack.enter_context(own_database(server, DATABASE))
        sources = Sources(stack, tmp_path_factory.mktemp("drills"))
        clean = {}
        # sanitation: SNIS (sample, then both exports) and IBGE
        for loader in ("snis", "ibge"):
            fresh(srv, loader)
            with world(sources, loader):
                sources.load(loader)
        clean["saneamento"] = build_marts(srv, "saneamento")
        # finance history files: the first version of the folder, then the second
        fresh(srv, "arquivos_financeiros")
        with world(sources, "arquivos_financeiros"):
            sources.load("arquivos_financeiros")
        # commercial: CRM and ERP in one world each
        for loader in ("crm", "erp"):
            fresh(srv, loader)
        with sources.comercial():
            sources.load("crm")
            sources.load("erp")
            sources.advance(DAYS_BEFORE + DAYS_AFTER)
            sources.load("crm")
            sources.load("erp")
            clean["comercial"] = build_marts(srv, "comercial")
        # finance: the BCB series (the emulator's data does not move); then the domain's models, over
        # the history files loaded above too
        fresh(srv, "bcb")
        sources.load("bcb")
        clean["financas"] = build_marts(srv, "financas")
        yield srv, sources, clean


def start_driver(sources: Sources, loader: str, point: str, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    marker = tmp_path / f"{loader}-{point}.marker"
    env = {**os.environ, **sources.env(), "DRILL_PIPELINE": pipeline_name(loader)}
    return subprocess.Popen([sys.executable, str(DRIVER), loader, point, str(marker)], env=env), marker


def total(keys: dict[str, dict[str, int]]) -> dict[str, int]:
    return {k: sum(v[k] for v in keys.values()) for k in ("missing", "duplicates", "extra")}


def rerun_and_check(
    srv, sources: Sources, loader: str, clean: dict, drill: str, left: list[str], load_begun: bool
) -> None:
    """The normal run after the fault (the commercial worlds two days further on), then the checks.
    `left`: the packages the fault left behind, settled by the normal run: resumed when the
    loader's policy says so and their load had not begun, else dropped."""
    from mirante.loaders.arquivos_financeiros.settings import PENDING_PACKAGES as arquivos
    from mirante.loaders.bcb.settings import PENDING_PACKAGES as bcb
    from mirante.loaders.crm.settings import PENDING_PACKAGES as crm
    from mirante.loaders.erp.settings import PENDING_PACKAGES as erp
    from mirante.loaders.ibge.settings import PENDING_PACKAGES as ibge
    from mirante.loaders.snis.settings import PENDING_PACKAGES as snis

    policy = {
        "snis": snis,
        "ibge": ibge,
        "crm": crm,
        "erp": erp,
        "bcb": bcb,
        "arquivos_financeiros": arquivos,
    }[loader]
    if DOMAIN[loader] == "comercial":
        sources.advance(DAYS_AFTER)
    before = total(compare_keys(srv, sources, loader))  # what the fault left, against today's source
    info = sources.load(loader)
    assert not info.has_failed_jobs
    # the run extracted afresh: it did not merely load what the killed run had left (dlt's own
    # `run` does that and stops when a package is pending)
    assert info.loads_ids and not set(info.loads_ids) & set(left), (info.loads_ids, left)
    assert pending(loader) == [], "the normal run left packages pending"
    # the leftovers were resumed (loaded) or dropped (never loaded)
    resumed = policy == "resume" and not load_begun
    assert loaded(srv, loader, left) == (left if resumed else [])
    keys = compare_keys(srv, sources, loader)
    assert all(v == {"missing": 0, "duplicates": 0, "extra": 0} for v in keys.values()), keys
    marts = build_marts(srv, DOMAIN[loader])
    equal = marts == clean[DOMAIN[loader]]
    print(
        f"\nDRILL {loader} {drill}: packages left {len(left)}{(' (resumed)' if resumed else ' (dropped)') if left else ''}; before the rerun "
        f"{before}; after: {total(keys)}; marts equal to the clean run: {equal} "
        f"({len(marts)} marts, rows {[int(h.split(':')[0]) for h in marts.values()]})"
    )
    assert equal, (marts, clean[DOMAIN[loader]])


LOADERS = ("snis", "ibge", "crm", "erp", "bcb", "arquivos_financeiros")


@pytest.mark.parametrize("point", ["extract", "normalize", "load"])
@pytest.mark.parametrize("loader", LOADERS)
def test_kill_9_then_a_normal_run_leaves_raw_equal_to_the_source(drills, tmp_path, loader, point):
    srv, sources, clean = drills
    fresh(srv, loader)
    with world(sources, loader):
        proc, marker = start_driver(sources, loader, point, tmp_path)
        assert proc.wait(timeout=300) == -signal.SIGKILL, (
            marker.read_text() if marker.exists() else "no marker"
        )
        said = marker.read_text()
        assert said.split()[0] == point  # killed where the drill says
        if point == "load":
            left = int(said.split()[3])
            assert left > 0, said  # load files committed, others not yet
        # a package is left behind once the extract finished, none before
        left = pending(loader)
        assert bool(left) == (point != "extract"), left
        rerun_and_check(srv, sources, loader, clean, said, left, load_begun=point == "load")


@pytest.mark.parametrize("loader", LOADERS)
def test_the_database_restarting_mid_load(drills, tmp_path, loader):
    """The server stops while load jobs are running and comes back: the run finishes (dlt retries
    the jobs that failed on the dead connection) or fails and leaves its package, which the next
    run resumes or drops; raw = source and the marts are right either way."""
    srv, sources, clean = drills
    fresh(srv, loader)
    with world(sources, loader):
        proc, marker = start_driver(sources, loader, "restart", tmp_path)
        deadline = time.monotonic() + 120
        while (marker.read_text() if marker.exists() else "") != "paused":
            assert proc.poll() is None, "the driver ended before it paused"
            assert time.monotonic() < deadline, "the driver never reached the load"
            time.sleep(0.05)
        assert db.stop_embedded()
        db.start_embedded()
        Path(str(marker) + ".go").write_text("go")
        code = proc.wait(timeout=300)
        said = marker.read_text()
        assert said.startswith("finished"), said
        assert (code == 0) == (said == "finished ok"), said
        # a package is left only if the run failed, and then its load had begun
        rerun_and_check(
            srv, sources, loader, clean, f"restart ({said[:120]})", pending(loader), load_begun=True
        )
