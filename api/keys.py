"""API keys of the data API: who may read which marts, and which municipalities' rows.

Why this module exists: every /v1/* route of the data API needs a bearer key, and the key decides
(1) the marts the caller may read (scopes) and (2) for the e-SUS marts, the municipalities whose rows
the caller sees (enforced by PostgreSQL row-level security, not by the API's own filters).

A key is `mrt_<id>_<secret>`: `id` 12 hex digits (public, names the key in lists and logs),
`secret` 43 URL-safe characters (256 random bits). Only SHA-256(secret) is stored, in
`seguranca.chaves_api` (owned by the admin, readable by the api role only); a fast hash is enough
because the secret is random, not a password, and it keeps the check per request in microseconds.
The key is shown once, at creation.

    create(admin_url, nome, escopos, municipios=None) -> (Chave, token)
    revoke(admin_url, id) ; list_keys(admin_url) -> [Chave]
    parse(token) -> (id, secret)          (ValueError when it is not shaped like a key)
    verify(row, secret) -> bool            constant-time comparison with the stored hash

Scopes are mart names or shell-style patterns (`vendas_*`, `*` for every mart); municipalities are
7-digit IBGE codes. Managed with `mirante api-key create|revoke|list`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from mirante import config

PREFIX = "mrt"
_TOKEN = re.compile(r"^mrt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_SCOPE = re.compile(r"^[a-z0-9_*?]{1,63}$")
_MUNICIPIO = re.compile(r"^[0-9]{7}$")


@dataclass(frozen=True)
class Chave:
    id: str
    nome: str
    escopos: tuple[str, ...]
    municipios: tuple[str, ...] | None
    criada_em: datetime | None = None
    revogada_em: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.nome!r} ({PREFIX}_{self.id})"

    def allows(self, mart: str) -> bool:
        return any(fnmatch.fnmatchcase(mart, pattern) for pattern in self.escopos)

    @property
    def guc(self) -> str:
        """Value of the `mirante.municipios` setting the row-level security policies read."""
        return "*" if self.municipios is None else ",".join(self.municipios)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str]:
    found = _TOKEN.match(token)
    if not found:
        raise ValueError("not an API key (expected mrt_<12 hex digits>_<43 characters>)")
    return found.group(1), found.group(2)


def verify(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, digest(secret))


def _table() -> sql.Composable:
    return sql.Identifier(config.SECURITY_SCHEMA, "chaves_api")


def _row(r) -> Chave:
    return Chave(r[0], r[1], tuple(r[2]), tuple(r[3]) if r[3] is not None else None, r[4], r[5])


_COLUMNS = sql.SQL("id, nome, escopos, municipios, criada_em, revogada_em")


def validate(nome: str, escopos: list[str], municipios: list[str] | None) -> None:
    if not nome.strip():
        raise ValueError("a key needs a name (--nome)")
    if not escopos:
        raise ValueError("a key needs at least one scope (--escopo MART, a pattern like vendas_*, or *)")
    bad = [e for e in escopos if not _SCOPE.match(e)]
    if bad:
        raise ValueError(
            f"invalid scope(s) {', '.join(map(repr, bad))}: a mart name or a pattern of "
            f"lower-case letters, digits, _, * and ?"
        )
    bad = [m for m in municipios or () if not _MUNICIPIO.match(m)]
    if bad:
        raise ValueError(f"invalid municipality code(s) {', '.join(map(repr, bad))}: 7-digit IBGE codes")


def create(
    admin_url: str, nome: str, escopos: list[str], municipios: list[str] | None = None
) -> tuple[Chave, str]:
    """A new key; returns it and its token (shown once, never stored)."""
    validate(nome, escopos, municipios)
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(
                "insert into {} (id, nome, hash, escopos, municipios) values (%s, %s, %s, %s, %s) "
                "returning {}"
            ).format(_table(), _COLUMNS),
            (
                key_id,
                nome.strip(),
                digest(secret),
                list(dict.fromkeys(escopos)),
                sorted(set(municipios)) if municipios else None,
            ),
        ).fetchone()
    return _row(row), f"{PREFIX}_{key_id}_{secret}"


def _key_id(text: str) -> str:
    text = text.strip()
    if text.startswith(f"{PREFIX}_"):
        text = text.split("_")[1]
    if not re.fullmatch(r"[0-9a-f]{12}", text):
        raise ValueError(f"not a key id: {text!r} (12 hex digits, as `mirante api-key list` shows)")
    return text


def revoke(admin_url: str, key: str) -> Chave:
    """Revoke a key (by id, `mrt_<id>` or the whole token); revoking twice keeps the first date."""
    key_id = _key_id(key)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(
                "update {} set revogada_em = coalesce(revogada_em, now()) where id = %s returning {}"
            ).format(_table(), _COLUMNS),
            (key_id,),
        ).fetchone()
    if row is None:
        raise LookupError(f"no API key with id {key_id}")
    return _row(row)


def get(admin_url: str, key: str) -> Chave | None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("select {} from {} where id = %s").format(_COLUMNS, _table()), (_key_id(key),)
        ).fetchone()
    return _row(row) if row else None


def list_keys(admin_url: str) -> list[Chave]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(sql.SQL("select {} from {} order by criada_em, id").format(_COLUMNS, _table()))
        return [_row(r) for r in rows]
