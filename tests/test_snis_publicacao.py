"""The SNIS publication poller (loaders/snis/publicacao.py) against its emulator over real HTTP on
loopback, with the small Alagoas sample: a new export is downloaded, archived unchanged and made
current in the loader's folder; an unchanged one costs a 304; a replaced one is archived beside the
old; a refused token is a permanent error that names the URL, not the token, and is not retried; a
server error is retried. Then the sensors: the poller's fills the folder, the folder's asks for the
load (one load path), and the loader loads what the poller made current."""

from __future__ import annotations

import hashlib

import psycopg
import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

from mirante.emulators import snis_publicacao
from mirante.loaders.snis import LOADER, list_exports, read_settings
from mirante.loaders.snis.publicacao import (
    PublicationAuthError,
    PublicationSettings,
    PublicationUnavailable,
    poll,
)

from .helpers import SNIS_SAMPLE, snis_text

NAME = SNIS_SAMPLE.name
SAMPLE_SHA = hashlib.sha256(SNIS_SAMPLE.read_bytes()).hexdigest()
FILE_PATH = f"/exports/{NAME}"


@pytest.fixture
def emu():
    with snis_publicacao.start(directory=SNIS_SAMPLE.parent, files=[NAME]) as running:
        yield running


def settings(emu, tmp_path, **kw) -> PublicationSettings:
    """The poller on the emulator, with short retry waits (the retries are counted, not timed)."""
    values = dict(
        url=emu.base_url,
        current_dir=tmp_path / "current",
        raw_zone=str(tmp_path / "raw"),
        token=emu.token,
        backoff_factor=0.01,
        max_retry_delay=0.05,
    )
    return PublicationSettings(**{**values, **kw})


def served(emu, path=FILE_PATH) -> list[tuple[int, int]]:
    return [(r.status, r.bytes_sent) for r in emu.requests() if r.path == path]


def archived_files(tmp_path) -> list:
    return sorted(p for p in (tmp_path / "raw").rglob("*") if p.is_file())


def replaced_sample() -> bytes:
    """The sample with its first data row left out: another valid export under the same name."""
    lines = snis_text(SNIS_SAMPLE).splitlines(keepends=True)
    return "".join(lines[:1] + lines[2:]).encode("utf-16-le")


def test_a_new_export_is_downloaded_archived_unchanged_and_made_current(emu, tmp_path):
    s = settings(emu, tmp_path)
    [fetched] = poll(s)
    assert (fetched.nome, fetched.estado, fetched.baixado, fetched.sha256) == (NAME, "novo", True, SAMPLE_SHA)
    archived = tmp_path / "raw" / SAMPLE_SHA[:2] / SAMPLE_SHA / NAME
    assert fetched.arquivado == str(archived)
    assert archived_files(tmp_path) == [archived]
    assert archived.read_bytes() == SNIS_SAMPLE.read_bytes()  # the original, byte for byte
    assert archived.stat().st_mode & 0o222 == 0
    # the loader's folder holds the current version: the archived file itself (hard link)
    assert list_exports(s.current_dir) == [s.current_dir / NAME]
    assert (s.current_dir / NAME).stat().st_ino == archived.stat().st_ino
    assert served(emu) == [(200, SNIS_SAMPLE.stat().st_size)]


def test_an_unchanged_export_costs_a_304_and_no_bytes(emu, tmp_path):
    s = settings(emu, tmp_path)
    poll(s)
    [again] = poll(s)
    assert (again.estado, again.baixado, again.sha256) == ("inalterado", False, SAMPLE_SHA)
    assert served(emu) == [(200, SNIS_SAMPLE.stat().st_size), (304, 0)]
    assert len(archived_files(tmp_path)) == 1


def test_a_replaced_export_is_archived_beside_the_old_and_becomes_current(emu, tmp_path):
    s = settings(emu, tmp_path)
    poll(s)
    new = replaced_sample()
    new_sha = emu.replace(NAME, new)
    [fetched] = poll(s)
    assert (fetched.estado, fetched.baixado, fetched.sha256) == ("substituido", True, new_sha)
    old_path = tmp_path / "raw" / SAMPLE_SHA[:2] / SAMPLE_SHA / NAME
    new_path = tmp_path / "raw" / new_sha[:2] / new_sha / NAME
    assert archived_files(tmp_path) == sorted([old_path, new_path])
    assert old_path.read_bytes() == SNIS_SAMPLE.read_bytes()  # both versions kept, unchanged
    assert new_path.read_bytes() == new
    assert (s.current_dir / NAME).read_bytes() == new
    assert list_exports(s.current_dir) == [s.current_dir / NAME]
    [after] = poll(s)
    assert (after.estado, after.baixado) == ("inalterado", False)
    assert [status for status, _ in served(emu)] == [200, 200, 304]


def test_a_refused_token_is_a_permanent_error_naming_the_url_not_the_token(emu, tmp_path):
    wrong = "not-the-publication-token-7f3a"
    with pytest.raises(PublicationAuthError) as raised:
        poll(settings(emu, tmp_path, token=wrong))
    message = str(raised.value)
    assert f"SNIS publication at {emu.base_url}/exports" in message and "HTTP 401" in message
    assert "MIRANTE_SNIS_PUBLICACAO_TOKEN" in message
    assert wrong not in message and emu.token not in message
    assert [(r.path, r.status) for r in emu.requests()] == [("/exports", 401)]  # not retried
    assert archived_files(tmp_path) == [] and list_exports(tmp_path / "current") == []
    with pytest.raises(PublicationAuthError, match="none is configured"):
        poll(settings(emu, tmp_path, token=None))


def test_server_errors_are_retried_then_the_poll_succeeds(emu, tmp_path):
    emu.fail_next(2, status=500)
    [fetched] = poll(settings(emu, tmp_path, max_attempts=4))
    assert (fetched.estado, fetched.sha256) == ("novo", SAMPLE_SHA)
    assert [(r.path, r.status) for r in emu.requests()] == [
        ("/exports", 500),
        ("/exports", 500),
        ("/exports", 200),
        (FILE_PATH, 200),
    ]


def test_a_publication_down_past_every_retry_is_transient_and_archives_nothing(emu, tmp_path):
    emu.fail_next(10, status=503)
    with pytest.raises(PublicationUnavailable, match="after 3 attempts: HTTP 503"):
        poll(settings(emu, tmp_path, max_attempts=3))
    assert [r.status for r in emu.requests()] == [503, 503, 503]
    assert archived_files(tmp_path) == []


def test_an_fsspec_raw_zone_gets_the_original_and_the_folder_a_copy(emu, tmp_path):
    import fsspec

    zone = f"memory://mirante-test-{tmp_path.name}/snis"
    s = settings(emu, tmp_path, raw_zone=zone)
    [fetched] = poll(s)
    assert fetched.arquivado == f"{zone}/{SAMPLE_SHA[:2]}/{SAMPLE_SHA}/{NAME}"
    with fsspec.open(fetched.arquivado, "rb") as fh:
        assert fh.read() == SNIS_SAMPLE.read_bytes()
    assert (s.current_dir / NAME).read_bytes() == SNIS_SAMPLE.read_bytes()


# --------------------------------------------------------------------------------------------
# the configuration, the sensors and the load


@pytest.fixture
def configured(emu, tmp_path, monkeypatch):
    """Mirante configured as a deployment would be: publication URL and token in the environment,
    its own MIRANTE_HOME (raw zone and current folder under it), MIRANTE_SNIS_DIR unset."""
    monkeypatch.setenv("MIRANTE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MIRANTE_SNIS_DIR", raising=False)
    monkeypatch.delenv("MIRANTE_SNIS_RAW_ZONE", raising=False)
    for name, value in snis_publicacao.poller_settings(emu).items():
        monkeypatch.setenv(name, value)
    return tmp_path / "home"


def test_settings_point_the_loader_at_the_pollers_folder(configured, emu):
    s = read_settings()
    assert s.directory == configured / "snis" / "current"
    assert s.publication.current_dir == s.directory
    assert s.publication.raw_zone == str(configured / "raw" / "snis")
    assert (s.publication.url, s.publication.token) == (emu.base_url, emu.token)
    assert emu.token not in repr(s)


def _sensor_context(instance, cursor=None):
    from mirante.orchestration.resources import LoaderSettings, Warehouse

    return build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"warehouse": Warehouse(), "snis": LoaderSettings(loader="snis")},
    )


def test_the_pollers_sensor_fills_the_folder_the_load_sensor_watches(configured, monkeypatch):
    from mirante.orchestration.defs import pastas
    from mirante.orchestration.defs.saneamento import SNIS_OP, snis_new_export_sensor, snis_publication_sensor

    monkeypatch.setattr(pastas, "loaded_hashes", lambda warehouse, table: set())
    with DagsterInstance.ephemeral() as instance:
        tick = snis_publication_sensor(_sensor_context(instance))
        assert isinstance(tick, SkipReason) and NAME in tick.skip_message
        request = snis_new_export_sensor(_sensor_context(instance))
        assert isinstance(request, RunRequest)
        assert request.run_config == {"ops": {SNIS_OP: {"config": {"files": [NAME]}}}}
        again = snis_publication_sensor(_sensor_context(instance))
        assert "are current" in again.skip_message


def test_without_a_publication_url_the_pollers_sensor_does_nothing(tmp_path, monkeypatch):
    from mirante.orchestration.defs.saneamento import snis_publication_sensor

    monkeypatch.setenv("MIRANTE_HOME", str(tmp_path))
    monkeypatch.delenv("MIRANTE_SNIS_PUBLICACAO_URL", raising=False)
    monkeypatch.setattr("mirante.config.read_secrets", lambda: {})
    with DagsterInstance.ephemeral() as instance:
        tick = snis_publication_sensor(_sensor_context(instance))
    assert "no SNIS publication configured" in tick.skip_message
    assert read_settings().publication is None
    assert list(tmp_path.iterdir()) == []


def test_the_loader_loads_the_published_export(raw_snis, configured):
    settings = read_settings()
    poll(settings.publication)
    LOADER.load(settings, srv=raw_snis)
    with psycopg.connect(raw_snis.url("transformer")) as conn:
        rows = conn.execute(
            "select arquivo, sha256, linhas_carregadas from raw_snis.arquivos order by arquivo"
        ).fetchall()
    assert rows == [(NAME, SAMPLE_SHA, 31)]


def test_mirante_run_polls_once_before_loading(configured, capsys):
    from mirante.orchestration.run import poll_snis_publication

    poll_snis_publication()  # `mirante run` runs no sensor: it polls itself
    assert (
        f"1 exports, 1 new or changed, current in {configured / 'snis' / 'current'}"
        in capsys.readouterr().out
    )
    assert list_exports(configured / "snis" / "current") == [configured / "snis" / "current" / NAME]


def test_the_snis_sla_runs_from_each_exports_publication_to_its_load(raw_snis, configured, emu):
    """The SNIS SLA (orchestration/slas.yml, `publicacao`): from the index's atualizado_em to the
    load of those bytes into raw_snis, or until now while they are not loaded."""
    from datetime import UTC, datetime, timedelta

    from mirante.loaders.snis.publicacao import published_exports, read_index
    from mirante.orchestration import sla

    settings = read_settings()
    assert published_exports() == []  # nothing polled yet: nothing to judge
    poll(settings.publication)
    (export,) = read_index(settings.publication)
    (held,) = published_exports()
    assert (held["nome"], held["sha256"]) == (NAME, SAMPLE_SHA)
    published = datetime.fromisoformat(held["publicado_em"])
    assert published == datetime.fromisoformat(export.atualizado_em)
    (snis_sla,) = [s for s in sla.load() if s.tipo == "publicacao"]

    later = published + timedelta(days=31)  # not loaded 31 days after its publication: a breach
    (pending,) = sla.evaluate(None, [snis_sla], now=later, server=raw_snis, jobs={})
    assert not pending.ok and pending.fim is None
    assert pending.observado_s == pytest.approx(31 * 86400)
    assert pending.referencia == f"{NAME}@{SAMPLE_SHA[:12]}"

    LOADER.load(settings, srv=raw_snis)
    with psycopg.connect(raw_snis.url("transformer")) as conn:
        (loaded,) = conn.execute(
            "select to_timestamp(_dlt_load_id::numeric) from raw_snis.arquivos where sha256 = %s",
            (SAMPLE_SHA,),
        ).fetchone()
    (done,) = sla.evaluate(None, [snis_sla], now=later, server=raw_snis, jobs={})
    assert done.fim == loaded and done.observado_s == pytest.approx((loaded - published).total_seconds())
    assert done.ok == (loaded - published <= timedelta(days=30))
    assert done.fim <= datetime.now(UTC)
