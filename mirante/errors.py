"""Error text that is safe to keep: the root cause of an exception, one readable line, with every
secret Mirante knows masked.

Loaders log errors in run-log tables and Dagster shows them to operators. Such text must stay
readable (a password that happens to be a word of the message, e.g. "authentication", is masked
where it appears and nowhere else) and must never carry a secret: every configured password and
key (mirante.config.secret_values), a password in a connection URL (`://user:secret@host`) and a
`password=...` pair are replaced by `***`. Published places (marts, the data API, alerts) get less
still: an error kind and a short code (see loaders/esus/errors.py), never host, port, user or
database names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from mirante import config

MASK = "***"
#: a password inside a URL's user info, and `password=value` / `password: value` pairs
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?P<tail>@)", re.IGNORECASE)
_PASSWORD_PAIR = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|senha)\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|\S+)", re.IGNORECASE
)


def causes(exc: BaseException | None, limit: int = 10) -> Iterator[BaseException]:
    """The exception and the chain of its causes: explicit `raise ... from` first, else the context,
    else the exception a dlt step error wraps (`PipelineStepFailed.exception`)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(seen) < limit:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__ or getattr(e, "exception", None)
        if not isinstance(e, BaseException):
            e = None


def find_cause(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in the chain of `exc` (see `causes`), or None."""
    return next((e for e in causes(exc) if isinstance(e, kind)), None)


def mask(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret replaced by ***: the given ones plus every secret Mirante is
    configured with. Empty and very short values (under 4 characters) are not secrets worth masking:
    masking them would make the text unreadable."""
    values = set(s for s in (secrets or ()) if s)
    values.update(config.secret_values())
    for value in sorted((v for v in values if len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)
    return _PASSWORD_PAIR.sub(lambda m: f"{m['head']}{MASK}", text)


def root_message(exc: BaseException, secrets: Iterable[str] | None = None, limit: int = 500) -> str:
    """The first line of the root cause's message (its type name when it has none), masked and cut
    to `limit` characters."""
    *_, root = causes(exc)
    text = str(root).strip()
    line = text.splitlines()[0].strip() if text else type(root).__name__
    return mask(line, secrets)[:limit]


def chain_text(exc: BaseException) -> str:
    """Type and message of every exception of the chain, lower case: what classifiers search."""
    return " | ".join(f"{type(e).__name__} {e}".lower() for e in causes(exc))
