"""The offline world, assembled in one place: the emulated PEC databases of the registry on the
warehouse server, and the IBGE, CRM and ERP emulators on 127.0.0.1 for every source whose address
is configured nowhere. `mirante run`, `mirante ui` and the tests all enter it through `offline()`
(or its parts), so they see the same sources.

The emulators' addresses and credentials reach the loaders through the same MIRANTE_* variables a
real deployment sets (read by mirante/config.py and the loaders' settings); they are put back when
the world closes.
"""

from __future__ import annotations

import contextlib
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


#: set/restore environment variables (tests and the world configure Mirante through it)
environ = config.environ


@contextlib.contextmanager
def http_emulators(force: bool = False, sources: tuple[str, ...] = ("ibge", "crm", "erp")):
    """The IBGE, CRM and ERP emulators for each of `sources` whose base URL is configured nowhere
    (MIRANTE_<SOURCE>_BASE_URL or `[sources.<source>] base_url` in .dlt/secrets.toml), or for all
    of them when `force` (tests), with the emulators' own credentials; yields {source: emulator}."""
    from . import crm, erp, ibge

    def configured(source: str) -> bool:
        return bool(config.source_setting(source, "base_url"))

    started: dict[str, object] = {}
    with contextlib.ExitStack() as stack, environ() as setenv:
        if "ibge" in sources and (force or not configured("ibge")):
            emu = stack.enter_context(ibge.start())
            setenv("MIRANTE_IBGE_BASE_URL", emu.base_url)
            started["ibge"] = emu
        if "crm" in sources and (force or not configured("crm")):
            emu = crm.start()
            stack.callback(emu.stop)
            setenv("MIRANTE_CRM_BASE_URL", emu.base_url)
            setenv("MIRANTE_CRM_USER_KEY", emu.user_key)
            started["crm"] = emu
        if "erp" in sources and (force or not configured("erp")):
            emu = erp.start()
            stack.callback(emu.stop)
            for name, value in (
                ("MIRANTE_ERP_BASE_URL", emu.base_url),
                ("MIRANTE_ERP_COMPANY_DB", erp.EMULATOR_COMPANY_DB),
                ("MIRANTE_ERP_USERNAME", erp.EMULATOR_USERNAME),
                ("MIRANTE_ERP_PASSWORD", erp.EMULATOR_PASSWORD),
            ):
                setenv(name, value)
            started["erp"] = emu
        for source, emu in started.items():
            print(f"{source.upper()} emulator on {emu.base_url}")
        yield started


@contextlib.contextmanager
def offline(force: bool = False, srv: config.Server | None = None):
    """The whole offline world: the warehouse (`db.setup()`: the embedded server unless
    MIRANTE_DATABASE_URL is set; left running, callers stop what they started), the registry's PEC
    databases and every HTTP emulator (see `http_emulators`)."""
    srv = srv or db.setup()
    db.export_env(srv)
    ensure_pec_sources(srv)
    with http_emulators(force=force) as started:
        yield World(srv, started)
