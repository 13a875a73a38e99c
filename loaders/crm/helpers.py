"""HTTP pieces of the CRM source: the retrying session and the auth failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from requests import Response

from .settings import SOURCE_LABEL


class CrmAuthError(RuntimeError):
    """The CRM rejected the User-Key (401/403). Never retried; the message never holds the key."""

    def __init__(self, base_url: str, status: int) -> None:
        self.base_url = base_url
        self.status = status
        super().__init__(
            f"the {SOURCE_LABEL} at {base_url} rejected the User-Key (HTTP {status}): set a valid key in "
            "MIRANTE_CRM_USER_KEY or user_key under [sources.crm] in .dlt/secrets.toml"
        )


def auth_failure_hook(base_url: str) -> Callable[..., Any]:
    """A response hook that turns 401/403 into CrmAuthError. dlt's retry (tenacity around
    `Session.send`) retries only 429, 5xx and connection errors, so this fails at once."""

    def hook(response: Response, *args: Any, **kwargs: Any) -> None:
        raise CrmAuthError(base_url, response.status_code)

    return hook
