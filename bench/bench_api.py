"""Data API latency and throughput under a bounded loopback load.

    python bench/bench_api.py [--threads 4] [--requests 400] [--rounds 3]      (make bench-api)

1. The database Mirante uses (embedded under MIRANTE_HOME unless MIRANTE_DATABASE_URL is set; the
   `mirante` database that `make run` builds). When its marts are missing it builds the whole graph
   first, like `make run` (about a minute here).
2. Starts the API as `make api` would (uvicorn, one process, `create_app` as mirante_api) in a
   subprocess on a free loopback port, without access log, and creates an API key for the bench
   (every mart; revoked at the end): every request is authenticated as a client's would be.
3. For each query, `--rounds` rounds of `--threads` client threads x `--requests` requests each,
   one keep-alive requests.Session per thread, after a warm-up; every response must have the
   query's expected status. Queries: a filtered mart (/v1/agg_saneamento_uf_ano?sigla_uf=SP), a
   paged one (/v1/dim_municipio?limit=100&offset=..., walking the 5,571 municipalities), an e-SUS
   mart under row-level security with a one-municipality key, a flood of unknown marts (404), and
   the filtered query measured while half the threads flood 404s.
Prints p50 / p99 latency (ms) and requests/s of each round and their medians. Client and server
share the machine's cores: the figures are a floor, not a capacity plan.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]

FILTERED = "/v1/agg_saneamento_uf_ano?sigla_uf=SP"


def _not_found(i: int) -> str:
    return f"/v1/nao_existe_{i}"


#: name -> (path of the i-th request of thread k, expected status, label, key); `mixed`: odd threads
#: flood unknown marts, the latencies reported are the even threads' hits
QUERIES = {
    "filtered": (lambda k, i: FILTERED, 200, FILTERED, "all"),
    "paged": (
        lambda k, i: f"/v1/dim_municipio?limit=100&offset={(i * 100) % 5500}",
        200,
        "/v1/dim_municipio?limit=100&offset=N",
        "all",
    ),
    "rls": (
        lambda k, i: "/v1/agg_vacinacao_dose_mes?limit=100",
        200,
        "/v1/agg_vacinacao_dose_mes?limit=100 (one-municipality key)",
        "municipio",
    ),
    "404": (lambda k, i: _not_found(i), 404, "/v1/nao_existe_N (404 flood)", "all"),
    "mixed": (
        lambda k, i: FILTERED if k % 2 == 0 else _not_found(i),
        None,
        f"{FILTERED} while half the threads flood 404s",
        "all",
    ),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _marts_built(srv) -> bool:
    with psycopg.connect(srv.url("reader")) as conn:  # the reader sees every row (no key needed)
        return all(
            conn.execute("select to_regclass(%s) is not null", (f"marts.{t}",)).fetchone()[0]
            for t in ("agg_saneamento_uf_ano", "dim_municipio")
        )


def _start_api(port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "mirante.api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the API did not start")
        time.sleep(0.2)


def _round(
    base: str, query, expected: int | None, token: str, threads: int, per_thread: int
) -> tuple[float, float, float, int]:
    """(p50 ms, p99 ms, requests/s, errors) of threads x per_thread requests (expected None: the
    even threads' requests must be 200 and are timed, the odd ones' must be 404)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start = threading.Barrier(threads + 1)

    def client(k: int) -> None:
        status = expected or (200 if k % 2 == 0 else 404)
        timed = expected is not None or k % 2 == 0
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            session.get(base + query(k, 0), timeout=30)  # open the keep-alive connection
            start.wait()
            for i in range(per_thread):
                t0 = time.perf_counter()
                resp = session.get(base + query(k, k * per_thread + i), timeout=30)
                resp.content  # noqa: B018 - the whole body, as a client reads it
                if timed:
                    latencies[k].append(time.perf_counter() - t0)
                errors[k] += resp.status_code != status

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    every = sorted(x for per in latencies for x in per)
    p50 = statistics.median(every) * 1000
    p99 = every[min(len(every) - 1, int(len(every) * 0.99))] * 1000
    return p50, p99, threads * per_thread / wall, sum(errors)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--requests", type=int, default=400, help="requests per thread and round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from mirante import config, db
    from mirante.api import keys

    started = config.external_server() is None and not db.embedded_running()
    api, made = None, []
    try:
        srv = db.setup()
        db.export_env(srv)
        if not _marts_built(srv):
            print("marts not built yet: building the whole graph first (as make run)", flush=True)
            from mirante.orchestration.run import run_all

            if run_all(stop_server=False) != 0:
                print("the build failed: no API bench", file=sys.stderr)
                return 1
        admin = srv.admin()
        with psycopg.connect(admin) as conn:
            muni = conn.execute("select min(id_municipio) from marts.agg_vacinacao_dose_mes").fetchone()[0]
        tokens = {}
        for label, municipios in (("all", None), ("municipio", [muni] if muni else None)):
            key, tokens[label] = keys.create(admin, f"bench_api {label}", ["*"], municipios)
            made.append(key.id)
        port = _free_port()
        api = _start_api(port)
        base = f"http://127.0.0.1:{port}"
        print(
            f"API on {base} as {config.role_name('api')} with API keys; {args.threads} client threads x "
            f"{args.requests} requests, keep-alive, {args.rounds} rounds per query",
            flush=True,
        )
        failed = 0
        for name, (query, expected, label, key) in QUERIES.items():
            if name == "rls" and muni is None:
                print("rls: no e-SUS mart built, skipped", flush=True)
                continue
            _round(base, query, expected, tokens[key], args.threads, 25)  # warm-up: pool, caches, code paths
            rounds = []
            for r in range(args.rounds):
                p50, p99, rps, errors = _round(
                    base, query, expected, tokens[key], args.threads, args.requests
                )
                failed += errors
                rounds.append((p50, p99, rps))
                print(
                    f"  {name:<9} round {r + 1}: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {rps:7.0f} req/s"
                    + (f"  {errors} errors" if errors else ""),
                    flush=True,
                )
            med = [statistics.median(x[i] for x in rounds) for i in range(3)]
            print(
                f"{name:<9} {label}: p50 {med[0]:.2f} ms, p99 {med[1]:.2f} ms, {med[2]:.0f} requests/s "
                f"(median of {args.rounds} rounds)",
                flush=True,
            )
        if failed:
            print(f"{failed} requests did not answer their expected status", file=sys.stderr)
        return 1 if failed else 0
    finally:
        for key_id in made:
            keys.revoke(srv.admin(), key_id)
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        if started:
            db.stop_embedded()


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
