"""The API key of a request, read from its Authorization header before any query; checking it against
the key table is Api.authenticate (service.py), inside the request's own transaction.
"""

from __future__ import annotations

from fastapi import Request

from mirante.api.errors import _unauthorized

HOW_TO_GET_A_KEY = "keys are created with `mirante api-key create --nome NAME --escopo MART`"


def bearer_token(request: Request) -> str:
    """The API key of the request's Authorization header (401 when missing or malformed; no query)."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized(
            f"missing API key: send the header 'Authorization: Bearer <key>' ({HOW_TO_GET_A_KEY})", error=None
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <key>'", error="invalid_request")
    return token.strip()
