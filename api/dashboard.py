"""The dashboard: one static page (api/static) served by the data API app, drawing its charts in the
browser from the API's own routes (/v1/marts, /v1/<mart>). No server-side rendering, no external
asset: the page works offline.

The page reads the marts with an API key like any client: it takes it from the address fragment
(`/dashboard#chave=mrt_...`, never sent to the server in the URL), keeps it in the tab's
sessionStorage and removes it from the address bar. `key(server)` gives the dashboard's own key
(scopes DASHBOARD_SCOPES, every municipality), created once and kept in .dlt/secrets.toml;
`mirante dashboard` prints the address with it.

    mount(app)                      GET /dashboard (the page), /dashboard/operacao (the Operação page:
                                    runs, freshness, SLAs, late municipalities from /v1/operacao),
                                    /dashboard/financas (the Finanças page: cash position, forecast,
                                    deflated revenue, monthly reports) and /dashboard/static/* (JS, CSS)
    key(server)                     the dashboard's API key (created when missing or revoked)
    serving(app)                    the app on a free loopback port in a background thread
    chromium()                      path of a Chromium executable, or None
    render(url, dump_dom=True)      the DOM after the page's JS ran, from headless Chromium
    render(url, screenshot=path)    a PNG of the page
    screenshot(url, path)           a PNG of the whole page (height measured in a first pass)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from mirante import config

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: the marts the pages read, and the Operação page's route (scopes of its API key)
DASHBOARD_SCOPES = (
    "vendas_*",
    "kpi_comercial_diario",
    "receita_recorrente_mensal",
    "agg_saneamento_*",
    "fct_saneamento_prestador_ano",
    "dim_municipio",
    "operacao",
    # the Finanças page: cash position, forecast, IPCA-deflated revenue, the monthly reports
    "fct_fluxo_caixa_diario",
    "fct_previsao_fluxo_caixa",
    "agg_indicadores_financeiros_mes",
    "relatorios",
)

#: the page's JS refreshes its data this often (app.js REFRESH_MS, exposed as <body data-refresh-ms>)
REFRESH_MS = 60_000

#: flags for a headless Chromium on a machine with no network: without the background-networking
#: ones it waits on connections that never come
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


def mount(app: FastAPI) -> None:
    """Serve the dashboard page at /dashboard and its assets under /dashboard/static."""
    index = STATIC_DIR / "index.html"
    no_cache = {"Cache-Control": "no-cache"}

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=no_cache)

    @app.get("/dashboard/", include_in_schema=False)
    def dashboard_slash() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/dashboard/operacao", include_in_schema=False)
    def operacao() -> FileResponse:
        return FileResponse(STATIC_DIR / "operacao.html", media_type="text/html", headers=no_cache)

    @app.get("/dashboard/financas", include_in_schema=False)
    def financas() -> FileResponse:
        return FileResponse(STATIC_DIR / "financas.html", media_type="text/html", headers=no_cache)

    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")


def key(server) -> str:
    """The dashboard's API key on `server`: the one configured (config.dashboard_api_key) while it
    exists, is not revoked and has DASHBOARD_SCOPES; else a new one, stored in .dlt/secrets.toml."""
    import tomlkit

    from mirante import config, db
    from mirante.api import keys

    admin = server.admin()
    token = config.dashboard_api_key()
    if token:
        try:
            keys.parse(token)
            current = keys.get(admin, token)
        except ValueError:
            current = None
        if (
            current
            and current.revogada_em is None
            and current.escopos == DASHBOARD_SCOPES
            and current.municipios is None
        ):
            return token
    _, token = keys.create(admin, "dashboard", list(DASHBOARD_SCOPES))
    db._update_secrets(
        lambda doc: doc.setdefault("api", tomlkit.table()).__setitem__("chave_dashboard", token)
    )
    return token


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a daemon thread (port 0: a free one); yields the base URL and
    stops the server on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="mirante-dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def chromium() -> str | None:
    """A Chromium executable: MIRANTE_CHROMIUM, else `chromium` (Debian) or its usual aliases."""
    explicit = config.chromium_path()
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(
    url: str,
    *,
    dump_dom: bool = False,
    screenshot: str | Path | None = None,
    window_size: tuple[int, int] = (1400, 1800),
    budget_ms: int = 20_000,
    timeout: float = 120.0,
) -> str:
    """Open `url` in headless Chromium with a fresh profile and return the DOM after its scripts ran
    (dump_dom) or write a PNG (screenshot). Virtual time lets the page's fetches and timers run for
    `budget_ms` (kept below REFRESH_MS, so the page is read after its first load)."""
    exe = chromium()
    if exe is None:
        raise RuntimeError(
            "Chromium not found: install Debian's `chromium` package "
            "(apt-get install --no-install-recommends chromium) or set MIRANTE_CHROMIUM"
        )
    if dump_dom == (screenshot is not None):
        raise ValueError("give exactly one of dump_dom=True or screenshot=<path>")
    with tempfile.TemporaryDirectory(prefix="mirante-chromium-") as profile:
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window_size[0]},{window_size[1]}",
            f"--virtual-time-budget={budget_ms}",
        ]
        if screenshot is not None:
            target = Path(screenshot).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            cmd.append(f"--screenshot={target}")
        else:
            cmd.append("--dump-dom")
        # its own process group, so that a hung browser goes with all its helper processes
        proc = subprocess.Popen(
            [*cmd, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=profile,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"chromium did not finish {url} within {timeout:.0f} s") from None
        finally:
            try:  # helpers left behind by a browser that exited
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.returncode != 0:
            raise RuntimeError(f"chromium exited with {proc.returncode}: {err[-2000:]}")
        if screenshot is not None and not Path(screenshot).exists():
            raise RuntimeError(f"chromium wrote no screenshot: {err[-2000:]}")
        return out


def screenshot(url: str, path: str | Path, width: int = 1400, height: int | None = None) -> tuple[int, int]:
    """A PNG of the page at `url`, `width` pixels wide; without `height`, as tall as the whole page
    after its first refresh (<body data-page-height>, read from a first DOM dump). Returns the size."""
    if height is None:
        dom = render(url, dump_dom=True, window_size=(width, 1800))
        found = re.search(r'<body[^>]*\sdata-page-height="(\d+)"', dom)
        height = min(max(int(found.group(1)) if found else 1800, 600), 10_000)
    render(url, screenshot=path, window_size=(width, height))
    return width, height
