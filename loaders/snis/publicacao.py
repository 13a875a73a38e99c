"""The SNIS publication poller: exports arrive over HTTP instead of being copied into a folder by hand.

A publication endpoint (MIRANTE_SNIS_PUBLICACAO_URL, bearer token MIRANTE_SNIS_PUBLICACAO_TOKEN;
mirante/config.py) lists its exports in a JSON index and serves each file with HTTP validators:

    GET <base>/exports                       Authorization: Bearer <token>
    200 application/json
    [{"nome": "agua-esgoto-agregado_2021.utf16.csv",        file name (no folder)
      "url": "<base>/exports/agua-esgoto-agregado_2021.utf16.csv",   absolute, or relative to the index
      "sha256": "9f2c...",                                  optional: checked against the bytes
      "tamanho": 3990102,                                   optional: size in bytes, checked too
      "atualizado_em": "2026-12-02T03:27:00Z"}, ...]        informative

    GET <url>     200 with the file's bytes, ETag and Last-Modified; 304 Not Modified when
                  If-None-Match matches its ETag (or, without one, If-Modified-Since is not older)

`poll()` reads the index and asks for every export with a conditional GET (the ETag and
Last-Modified of the version it holds), so an unchanged export costs one 304 and no bytes. A new
or changed export is streamed to a temporary file while its sha256 is computed, checked against
the index's sha256 and size, then

1. archived unchanged in the raw zone (MIRANTE_SNIS_RAW_ZONE: a folder, default
   MIRANTE_HOME/raw/snis, or an fsspec URL), content-addressed as `<sha256[:2]>/<sha256>/<name>`:
   written under a temporary name and published with an atomic no-overwrite link (a local folder)
   or a move (fsspec), never overwritten: every version ever published stays, side by side;
2. made the current version of its name in the folder the SNIS loader reads (MIRANTE_SNIS_DIR,
   default MIRANTE_HOME/snis/current when a publication URL is set): a hard link to the archived
   file (a copy when the raw zone is elsewhere), swapped in with an atomic rename, so the loader
   never sees half a file.

The poller loads nothing: `snis_new_export_sensor` (orchestration/defs/saneamento.py) already asks
for a load of every export in that folder whose sha256 raw_snis does not hold, so files by hand and
files by publication share ONE load path (same loader, same sha256 bookkeeping, same run tags).
An export that leaves the index stays in the folder (its rows stay in raw_snis too).

Errors: a refused token (401/403) raises `PublicationAuthError`, permanent, never retried, naming
the source and the URL, never the token. 429, 5xx and connection errors are retried with
exponential backoff (mirante.pipelines.retrying_session), then raise `PublicationUnavailable`
(transient: the next poll tries again). Bytes that do not match the index's sha256 or size are not
archived (`PublicationError`). The validators of the versions held are kept in
`<folder>/.publicacao.json` (the loader reads *.csv only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

log = logging.getLogger(__name__)

#: how the source is named in error messages
SOURCE_LABEL = "SNIS publication"
#: path of the JSON index under the base URL
INDEX_PATH = "exports"
#: the poller's memory of the versions it holds (validators, sha256), in the loader's folder
STATE_FILE = ".publicacao.json"
#: retries of 429, 5xx and connection errors: backoff_factor * 2**n seconds, at most MAX_RETRY_DELAY
MAX_ATTEMPTS = 5
BACKOFF_FACTOR = 1.0
MAX_RETRY_DELAY = 30.0
REQUEST_TIMEOUT = 60.0
_BLOCK = 1 << 20


class PublicationError(RuntimeError):
    """The publication answered something unusable (a listed file missing, a bad index, bytes that
    do not match the index). Nothing of that export is archived."""


class PublicationAuthError(PublicationError):
    """The publication refused the token (401/403): permanent, never retried, token never shown."""

    def __init__(self, url: str, status: int, configured: bool) -> None:
        self.url = url
        self.status = status
        what = "refused the bearer token" if configured else "requires a bearer token and none is configured"
        super().__init__(
            f"the {SOURCE_LABEL} at {url} {what} (HTTP {status}): set a valid token in "
            "MIRANTE_SNIS_PUBLICACAO_TOKEN or publicacao_token under [sources.snis] in .dlt/secrets.toml"
        )


class PublicationUnavailable(PublicationError):
    """5xx, 429 or no connection after every retry: transient, the next poll tries again."""

    def __init__(self, url: str, reason: str, attempts: int) -> None:
        self.url = url
        super().__init__(f"the {SOURCE_LABEL} at {url} is unavailable after {attempts} attempts: {reason}")


@dataclass(frozen=True)
class PublicationSettings:
    """Where the exports are published and where they go (mirante.config, read by read_settings)."""

    #: base URL: the index is `<url>/exports`
    url: str
    #: the folder the SNIS loader reads: the current version of each export
    current_dir: Path
    #: raw zone: a local folder or an fsspec URL
    raw_zone: str
    token: str | None = field(default=None, repr=False)
    max_attempts: int = MAX_ATTEMPTS
    backoff_factor: float = BACKOFF_FACTOR
    max_retry_delay: float = MAX_RETRY_DELAY
    request_timeout: float = REQUEST_TIMEOUT

    @property
    def index_url(self) -> str:
        return f"{self.url}/{INDEX_PATH}"


@dataclass(frozen=True)
class Export:
    """One entry of the index."""

    nome: str
    url: str
    sha256: str | None = None
    tamanho: int | None = None
    #: the index's publication time (ISO 8601), if it gives one
    atualizado_em: str | None = None


@dataclass(frozen=True)
class Fetched:
    """What one poll did with one export."""

    nome: str
    sha256: str
    #: "novo" (first version of this name), "substituido" (new content), "inalterado"
    estado: str
    #: bytes were transferred (False: 304)
    baixado: bool
    #: the archived original (path or fsspec URL)
    arquivado: str
    #: the file the loader reads
    atual: Path


def poll(
    settings: PublicationSettings, session: Any = None, on_event: Callable[[str], None] | None = None
) -> list[Fetched]:
    """One poll of the publication: every export of the index fetched if new or changed, archived
    and made current (see the module docstring). Returns what happened to each export."""
    say = on_event or log.info
    session = session or _session(settings)
    settings.current_dir.mkdir(parents=True, exist_ok=True)
    archive = RawZone(settings.raw_zone)
    state = _read_state(settings)
    out = []
    for export in read_index(settings, session):
        fetched = _fetch(settings, session, archive, export, state)
        _write_state(settings, state)  # after each export: a failure later keeps what is done
        if fetched.baixado:
            say(
                f"{SOURCE_LABEL}: {fetched.nome} {fetched.estado} (sha256 {fetched.sha256[:12]}), "
                f"archived at {fetched.arquivado}"
            )
        out.append(fetched)
    return out


def read_index(settings: PublicationSettings, session: Any = None) -> list[Export]:
    """The exports listed by `<url>/exports`."""
    session = session or _session(settings)
    response = _get(settings, session, settings.index_url)
    try:
        body = response.json()
    except ValueError:
        raise PublicationError(f"the {SOURCE_LABEL} at {settings.index_url} did not answer JSON") from None
    if not isinstance(body, list):
        raise PublicationError(f"the {SOURCE_LABEL} index at {settings.index_url} is not a JSON list")
    exports = []
    for entry in body:
        try:
            nome, url = str(entry["nome"]), str(entry["url"])
            sha = str(entry["sha256"]).lower() if entry.get("sha256") else None
            size = int(entry["tamanho"]) if entry.get("tamanho") is not None else None
            published = _iso(entry["atualizado_em"]) if entry.get("atualizado_em") else None
        except (KeyError, TypeError, ValueError):
            raise PublicationError(
                f"the {SOURCE_LABEL} index at {settings.index_url} has an entry without nome and url: {entry!r}"
            ) from None
        if nome != PurePosixPath(nome).name or "\\" in nome or nome.startswith(".") or not nome:
            raise PublicationError(f"the {SOURCE_LABEL} index lists an unsafe file name {nome!r}")
        exports.append(Export(nome, urljoin(settings.index_url, url), sha, size, published))
    return exports


def _iso(text) -> str:
    """An ISO 8601 time ('Z' accepted) as UTC ISO text; ValueError if it is not one."""
    stamp = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def published_exports(settings: PublicationSettings | None = None) -> list[dict]:
    """The current version of every export the poller holds: nome, sha256 and publicado_em (the
    index's atualizado_em, else when the poller first downloaded that version): what the SNIS SLA
    (orchestration/sla.py) measures from. Empty without a configured publication."""
    if settings is None:
        from mirante.loaders.snis import read_settings

        settings = read_settings().publication
        if settings is None:
            return []
    state = _read_state(settings)
    return [
        {"nome": nome, "sha256": held["sha256"], "publicado_em": held["publicado_em"]}
        for nome, held in sorted(state["arquivos"].items())
        if held.get("publicado_em")
    ]


# --------------------------------------------------------------------------------------------
# one export


def _fetch(settings, session, archive: RawZone, export: Export, state: dict) -> Fetched:
    held = state["arquivos"].get(export.nome)
    current = settings.current_dir / export.nome
    headers = {}
    # validators only for a version still whole on both sides: else download it again
    if held and current.is_file() and archive.has(held["sha256"], export.nome):
        if held.get("etag"):
            headers["If-None-Match"] = held["etag"]
        if held.get("last_modified"):
            headers["If-Modified-Since"] = held["last_modified"]
    response = _get(settings, session, export.url, headers, stream=True)
    if response.status_code == 304:
        response.close()
        if not headers:
            raise PublicationError(f"the {SOURCE_LABEL} at {export.url} answered 304 to an unconditional GET")
        return Fetched(
            export.nome,
            held["sha256"],
            "inalterado",
            False,
            archive.path(held["sha256"], export.nome),
            current,
        )
    tmp_dir = settings.current_dir / ".tmp"
    tmp_dir.mkdir(exist_ok=True)
    tmp = tmp_dir / f"{export.nome}.{uuid.uuid4().hex}"
    try:
        digest, size = hashlib.sha256(), 0
        with response, tmp.open("wb") as fh:
            for block in response.iter_content(_BLOCK):
                digest.update(block)
                size += len(block)
                fh.write(block)
        sha = digest.hexdigest()
        if export.sha256 and sha != export.sha256:
            raise PublicationError(
                f"{export.nome} from the {SOURCE_LABEL} at {export.url}: sha256 {sha} differs from the "
                f"index's {export.sha256}; not archived (the next poll tries again)"
            )
        if export.tamanho is not None and size != export.tamanho:
            raise PublicationError(
                f"{export.nome} from the {SOURCE_LABEL} at {export.url}: {size} bytes, the index says "
                f"{export.tamanho}; not archived (the next poll tries again)"
            )
        archived = archive.put(tmp, sha, export.nome)
        _make_current(archive, sha, export.nome, tmp, current)
    finally:
        tmp.unlink(missing_ok=True)
    same = held is not None and held["sha256"] == sha
    state["arquivos"][export.nome] = {
        "sha256": sha,
        "etag": response.headers.get("ETag"),
        "last_modified": response.headers.get("Last-Modified"),
        "publicado_em": export.atualizado_em
        or (held.get("publicado_em") if same else None)
        or datetime.now(UTC).isoformat(),
    }
    estado = "novo" if not held else ("inalterado" if held["sha256"] == sha else "substituido")
    return Fetched(export.nome, sha, estado, True, archived, current)


def _make_current(archive: RawZone, sha: str, nome: str, downloaded: Path, current: Path) -> None:
    """`current` becomes this version, swapped in whole (atomic rename): a hard link to the archived
    file when the raw zone is a local folder on the same file system, else a copy of the download."""
    staged = current.with_name(f".{nome}.{uuid.uuid4().hex}.tmp")
    try:
        source = archive.local_path(sha, nome)
        try:
            if source is None:
                raise OSError("raw zone not local")
            os.link(source, staged)
        except OSError:
            shutil.copyfile(downloaded, staged)
            os.chmod(staged, 0o444)
        os.replace(staged, current)
    finally:
        staged.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# the raw zone


class RawZone:
    """Content-addressed archive of the originals: `<root>/<sha256[:2]>/<sha256>/<name>`, each
    written once (temporary name, then an atomic no-overwrite publish), read-only, never replaced."""

    def __init__(self, location: str) -> None:
        self.location = location
        if "://" in location:
            import fsspec

            self.fs, root = fsspec.core.url_to_fs(location)
            self.root = root.rstrip("/")
            self.local = None
        else:
            self.fs = None
            self.local = Path(location)

    def path(self, sha: str, nome: str) -> str:
        """The archived file (a path, or the fsspec URL)."""
        if self.local is not None:
            return str(self.local / sha[:2] / sha / nome)
        return f"{self.location.rstrip('/')}/{sha[:2]}/{sha}/{nome}"

    def local_path(self, sha: str, nome: str) -> Path | None:
        return self.local / sha[:2] / sha / nome if self.local is not None else None

    def _key(self, sha: str, nome: str) -> str:
        return f"{self.root}/{sha[:2]}/{sha}/{nome}"

    def has(self, sha: str, nome: str) -> bool:
        if self.local is not None:
            return self.local_path(sha, nome).is_file()
        return self.fs.exists(self._key(sha, nome))

    def put(self, src: Path, sha: str, nome: str) -> str:
        """Archive `src` (whose sha256 is `sha`) unless that version is there already."""
        if self.local is not None:
            final = self.local_path(sha, nome)
            if not final.is_file():
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = final.with_name(f".{nome}.{uuid.uuid4().hex}.tmp")
                try:
                    shutil.copyfile(src, tmp)
                    os.chmod(tmp, 0o444)
                    try:
                        os.link(tmp, final)  # atomic, and fails rather than overwrite
                    except FileExistsError:
                        pass  # the same bytes, archived meanwhile by another poll
                finally:
                    tmp.unlink(missing_ok=True)
            return str(final)
        key = self._key(sha, nome)
        if not self.fs.exists(key):
            tmp = f"{self.root}/{sha[:2]}/{sha}/.{nome}.{uuid.uuid4().hex}.tmp"
            self.fs.put_file(str(src), tmp)
            self.fs.mv(tmp, key)
        return self.path(sha, nome)


# --------------------------------------------------------------------------------------------
# HTTP


def _session(settings: PublicationSettings):
    from mirante.pipelines import retrying_session

    return retrying_session(
        max_attempts=settings.max_attempts,
        backoff_factor=settings.backoff_factor,
        max_retry_delay=settings.max_retry_delay,
        request_timeout=settings.request_timeout,
    )


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def _get(settings: PublicationSettings, session, url: str, headers: dict | None = None, stream=False):
    """GET with the token (sent to the publication's own origin only), retried by the session on
    429, 5xx and connection errors; 401/403 and other errors raised as PublicationError kinds."""
    import requests

    headers = dict(headers or {})
    if settings.token and _same_origin(url, settings.url):
        headers["Authorization"] = f"Bearer {settings.token}"
    try:
        response = session.get(url, headers=headers, stream=stream, timeout=settings.request_timeout)
    except requests.RequestException as exc:
        from mirante.errors import mask

        reason = mask(f"{type(exc).__name__}: {exc}", [settings.token or ""])[:300]
        raise PublicationUnavailable(url, reason, settings.max_attempts) from None
    status = response.status_code
    if status in (200, 304):
        return response
    response.close()
    if status in (401, 403):
        raise PublicationAuthError(url, status, configured=bool(settings.token))
    if status == 429 or status >= 500:
        raise PublicationUnavailable(url, f"HTTP {status}", settings.max_attempts)
    raise PublicationError(f"the {SOURCE_LABEL} at {url} answered HTTP {status}")


# --------------------------------------------------------------------------------------------
# the poller's state: validators of the versions held, per export name


def _state_file(settings: PublicationSettings) -> Path:
    return settings.current_dir / STATE_FILE


def _read_state(settings: PublicationSettings) -> dict:
    try:
        state = json.loads(_state_file(settings).read_text())
    except (FileNotFoundError, ValueError):
        state = {}
    if state.get("url") != settings.url:  # another publication: its validators mean nothing here
        state = {"url": settings.url, "arquivos": {}}
    return state


def _write_state(settings: PublicationSettings, state: dict) -> None:
    path = _state_file(settings)
    tmp = path.with_name(f"{STATE_FILE}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)
