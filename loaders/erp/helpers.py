"""Session authentication for the SAP Business One Service Layer, as a dlt REST client authenticator.

The Service Layer authenticates by session: `POST /Login` with CompanyDB, UserName and Password
returns `SessionId`/`SessionTimeout` (minutes) and the cookies `B1SESSION` and `ROUTEID`, which every
request then carries. `B1SessionAuth`:

* logs in lazily on the first request and again shortly before SessionTimeout runs out;
* when a request is answered 401 with Service Layer code 301 ("Invalid session.": expired, or the
  server restarted), logs in again ONCE and re-sends that request with the new cookie;
* when the login itself is refused (401/403, e.g. code -304), raises `ErpLoginError` at once: no
  retry, and every later request of the run fails the same way without asking the server again.
  The message names the ERP, the company database, the user and the URL, never the password.

Logins go through dlt's retrying client, so a 429 or 5xx on /Login is retried like any request.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from dlt.common.configuration.specs.base_configuration import NotResolved, configspec
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from requests import HTTPError, PreparedRequest, Response
from requests import Session as BaseSession  # noqa: I251 (the type of dlt's retrying session)

from .settings import SAP_INVALID_SESSION, SESSION_MARGIN_SECONDS


class ErpLoginError(RuntimeError):
    """The Service Layer refused the credentials: fix the configuration; retrying cannot help."""


def sap_error(response: Response) -> tuple[int | None, str]:
    """(code, message) of a Service Layer error body `{"error": {"code", "message": {"value"}}}`."""
    try:
        err = response.json().get("error", {})
        message = err.get("message")
        text = message.get("value") if isinstance(message, dict) else message
        return err.get("code"), str(text or response.reason)
    except (ValueError, AttributeError):
        return None, response.reason or ""


def is_invalid_session(response: Response) -> bool:
    return response.status_code == 401 and sap_error(response)[0] == SAP_INVALID_SESSION


@configspec
class B1SessionAuth(AuthConfigBase):
    """Cookie session of the Service Layer at `service_root` (…/b1s/v1)."""

    service_root: str = None
    company_db: str = None
    username: str = None
    password: TSecretStrValue = None
    #: session used for /Login and /Logout (dlt's retrying client); a new default one when None
    session: Annotated[BaseSession, NotResolved()] = None

    def __post_init__(self) -> None:
        if self.session is None:
            from dlt.sources.helpers.requests import Client

            self.session = Client(raise_for_status=False).session
        self._lock = threading.RLock()
        self._session_id: str | None = None
        self._route_id: str | None = None
        self._renew_at = 0.0
        self._refused: ErpLoginError | None = None
        #: logins made (first one and renewals), for logs and tests
        self.logins = 0

    def __deepcopy__(self, memo: dict) -> B1SessionAuth:
        """A fresh, logged-out authenticator with the same settings (dlt deep-copies the REST config
        to validate it; a lock cannot be copied and a live session must not be duplicated)."""
        return type(self)(
            service_root=self.service_root,
            company_db=self.company_db,
            username=self.username,
            password=self.password,
            session=self.session,
        )

    # -- requests' AuthBase ----------------------------------------------------------------------
    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        session_id = self._current_session()
        request.headers["Cookie"] = self._cookie()
        request._b1_session_id = session_id  # type: ignore[attr-defined]
        request.register_hook("response", self._renew_on_invalid_session)
        return request

    def _renew_on_invalid_session(self, response: Response, **send_kwargs: Any) -> Response:
        """Response hook: on 401 code 301, log in again once and re-send the request."""
        prep = response.request
        if not is_invalid_session(response) or getattr(prep, "_b1_renewed", False):
            return response
        with self._lock:
            if self._session_id == getattr(prep, "_b1_session_id", None):
                self._session_id = None  # not renewed yet by another request
            self._current_session()
            prep.headers["Cookie"] = self._cookie()
            prep._b1_session_id = self._session_id  # type: ignore[attr-defined]
        prep._b1_renewed = True  # type: ignore[attr-defined]
        response.close()
        retried = response.connection.send(prep, **send_kwargs)
        retried.history.append(response)
        retried.request = prep
        return retried

    # -- session -----------------------------------------------------------------------------
    def _cookie(self) -> str:
        cookie = f"B1SESSION={self._session_id}"
        return f"{cookie}; ROUTEID={self._route_id}" if self._route_id else cookie

    def _current_session(self) -> str:
        with self._lock:
            if self._refused is not None:
                raise self._refused
            if self._session_id is None or time.monotonic() >= self._renew_at:
                self.login()
            return self._session_id

    def login(self) -> None:
        """POST /Login; `ErpLoginError` (not retried) when the credentials are refused."""
        with self._lock:
            response = self.session.post(
                f"{self.service_root}/Login",
                json={"CompanyDB": self.company_db, "UserName": self.username, "Password": self.password},
            )
            if response.status_code in (400, 401, 403):
                code, message = sap_error(response)
                if self.password:
                    message = message.replace(self.password, "***")
                self._refused = ErpLoginError(
                    f"SAP Business One Service Layer at {self.service_root} refused the login of user "
                    f"{self.username!r} to company database {self.company_db!r}: {message} "
                    f"(HTTP {response.status_code}, code {code}). Check MIRANTE_ERP_COMPANY_DB, "
                    "MIRANTE_ERP_USERNAME and MIRANTE_ERP_PASSWORD; the load was not retried."
                )
                raise self._refused
            if response.status_code >= 400:
                code, message = sap_error(response)
                raise HTTPError(
                    f"SAP Business One Service Layer at {self.service_root}: login to company database "
                    f"{self.company_db!r} failed with HTTP {response.status_code} after retries: {message}",
                    response=response,
                )
            body = response.json()
            self._session_id = body.get("SessionId") or response.cookies.get("B1SESSION")
            self._route_id = response.cookies.get("ROUTEID")
            timeout_s = float(body.get("SessionTimeout") or 30) * 60
            self._renew_at = time.monotonic() + max(timeout_s - SESSION_MARGIN_SECONDS, timeout_s / 2)
            self.logins += 1

    def logout(self) -> None:
        """POST /Logout when a session is open (frees the Service Layer session); never raises."""
        with self._lock:
            if self._session_id is None:
                return
            try:
                self.session.post(f"{self.service_root}/Logout", headers={"Cookie": self._cookie()})
            except Exception:  # noqa: BLE001 (the session times out by itself anyway)
                pass
            self._session_id = None
