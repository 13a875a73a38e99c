"""ApiError, the one exception the API's parts raise for a request they refuse: app.py turns it into
the JSON `{"detail": ...}` answer with its status and headers.
"""

from __future__ import annotations


class ApiError(Exception):
    """A request the API refuses: `status` and a message for the client."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def _unauthorized(detail: str, error: str | None = "invalid_token") -> ApiError:
    challenge = 'Bearer realm="mirante"' + (f', error="{error}"' if error else "")
    return ApiError(401, detail, {"WWW-Authenticate": challenge})
