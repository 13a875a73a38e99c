"""The offline world, assembled in one place: the emulated PEC databases of the registry on the
warehouse server, and the HTTP emulator of every source that has one (`emulators/<source>.py` with
`start()` and `loader_settings()`: today IBGE, CRM, ERP, BCB and the payment event stream) on 127.0.0.1, for every source whose
address is configured nowhere, and generated files in the folder of the file sources that have no
file yet (the finance history files: emulators/arquivos_financeiros.py), and the company's
operational database the ledger's change data capture reads (emulators/razao.py). `mirante run`, `mirante ui` and the tests all enter it through `offline()`
(or its parts), so they see the same sources.

The emulators' addresses and credentials reach the loaders through the same MIRANTE_* variables a
real deployment sets (read by mirante/config.py and the loaders' settings); they are put back when
the world closes.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from dataclasses import dataclass, field

import psycopg

from mirante import config, db


@dataclass
class World:
    server: config.Server
    #: source -> each emulator this world started (sources configured elsewhere are absent)
    emulators: dict[str, object] = field(default_factory=dict)


def ensure_pec_sources(srv: config.Server) -> None:
    """Create the emulated PEC database of every registry municipality that has none yet (the
    offline stand-ins for the municipal servers; password from MIRANTE_ESUS_PASSWORD or
    `[esus] senha` in .dlt/secrets.toml, generated there if missing)."""
    from mirante.loaders.esus import registry

    from . import pec

    existing = set(pec.list_municipios(srv))
    missing = [m for m in registry.load() if m.id_municipio not in existing]
    password = config.esus_password() or db.ensure_secret("esus", "senha")
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        pec.ensure_source_role(conn, password)  # the emulated sources' read role uses the secret
    if missing:
        print(f"creating {len(missing)} emulated PEC databases: {', '.join(m.nome for m in missing)}")
        pec.create_many(srv, [m.id_municipio for m in missing], password)


def ensure_file_sources() -> None:
    """Synthetic finance history files (bank statements, past invoices) in the folder the
    arquivos_financeiros loader reads, when it holds none yet (files put there by hand win)."""
    from . import arquivos_financeiros

    folder = config.arquivos_financeiros_dir()
    written = arquivos_financeiros.ensure_folder(folder)
    if written:
        print(f"{len(written)} synthetic finance history files written to {folder}")


def ensure_ledger_source(srv: config.Server) -> None:
    """The company's operational database (emulators/razao.py: razao_origem, its history from
    2025-04-01 to its reference end, the publication and the capture's role), created when missing,
    unless the capture reads a source configured elsewhere (MIRANTE_RAZAO_HOST / [sources.razao])."""
    if config.source_setting("razao", "host"):
        return
    from . import razao

    if razao.ensure(srv):
        print(f"emulated ledger database {razao.DATABASE} created (history to {razao.REFERENCE_END})")


#: set/restore environment variables (tests and the world configure Mirante through it)
environ = config.environ


def emulated_sources() -> list[str]:
    """Every loader with an HTTP emulator, by rule: a module `emulators/<source>.py` with
    `start()` and `loader_settings(emu)` (dlt loaders and the payment event stream alike)."""
    from mirante.loaders import sources

    found = []
    for name in sources():
        if importlib.util.find_spec(f"{__package__}.{name}") is None:
            continue
        module = importlib.import_module(f"{__package__}.{name}")
        if hasattr(module, "start") and hasattr(module, "loader_settings"):
            found.append(name)
    return found


@contextlib.contextmanager
def http_emulators(force: bool = False, sources: tuple[str, ...] | None = None):
    """The emulator of each of `sources` (default: every emulated source) whose base URL is
    configured nowhere (MIRANTE_<SOURCE>_BASE_URL or `[sources.<source>] base_url` in
    .dlt/secrets.toml), or of all of them when `force` (tests), with the emulators' own
    credentials; yields {source: emulator}."""
    started: dict[str, object] = {}
    with contextlib.ExitStack() as stack, environ() as setenv:
        for source in sources or emulated_sources():
            if not force and config.source_setting(source, "base_url"):
                continue
            module = importlib.import_module(f"{__package__}.{source}")
            emu = module.start()
            stack.callback(emu.stop)
            for name, value in module.loader_settings(emu).items():
                setenv(name, value)
            started[source] = emu
        for source, emu in started.items():
            print(f"{source.upper()} emulator on {emu.base_url}")
        yield started


@contextlib.contextmanager
def offline(force: bool = False, srv: config.Server | None = None):
    """The whole offline world: the warehouse (`db.setup()`: the embedded server unless
    MIRANTE_DATABASE_URL is set; left running, callers stop what they started), the registry's PEC
    databases, the file sources' folders and every HTTP emulator (see `http_emulators`)."""
    srv = srv or db.setup()
    db.export_env(srv)
    ensure_pec_sources(srv)
    ensure_file_sources()
    ensure_ledger_source(srv)
    with http_emulators(force=force) as started:
        yield World(srv, started)
