"""Processes of the Celery test and bench: a Redis server on a free port, `mirante worker`
processes, and a run launched the way a deployment launches it (a process of its own that
orchestrates while the workers execute the steps). Every process is stopped by its PID (its
session's process group: a worker's pool children go with it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the process's group (started with start_new_session), SIGKILL if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    # pool children outliving their parent (SIGKILLed above, or a worker that died): same group
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (a worker and its pool), in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        todo += [int(c) for c in children]
    return total / 1024


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's redis-server on 127.0.0.1 and a free port, no persistence; yields its URL."""
    assert REDIS_SERVER, "redis-server is not installed (make redis)"
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "redis.log").open("wb")
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(folder)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not _ping(port):
            assert proc.poll() is None, (folder / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not answer PING in 20 s"
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        log.close()


@contextmanager
def workers(n: int, env: dict[str, str], folder: Path, concurrency: int = 1) -> Iterator[list[tuple]]:
    """`n` processes of `mirante worker` (names w<i>@<host>), ready to take tasks; yields
    [(node name, process, log file)]."""
    host = socket.gethostname()
    started = []
    try:
        for i in range(1, n + 1):
            name = f"w{i}@{host}"
            path = folder / f"worker-{i}.log"
            log = path.open("wb")
            proc = subprocess.Popen(
                [str(BIN / "mirante"), "worker", "--name", name, "--concurrency", str(concurrency)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started.append((name, proc, path, log))
        deadline = time.monotonic() + 120
        for name, proc, path, _ in started:
            # celery prints "<node> ready." once it consumes its queues
            while f"{name} ready." not in path.read_text(errors="replace"):
                assert proc.poll() is None, f"worker {name} exited:\n{path.read_text(errors='replace')}"
                assert time.monotonic() < deadline, f"worker {name} not ready in 120 s"
                time.sleep(0.2)
        yield [(name, proc, path) for name, proc, path, _ in started]
    finally:
        for _, proc, _, log in started:
            stop(proc)
            log.close()


def execute_job(
    job: str, env: dict[str, str], timeout: float = 600, tags: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`dagster job execute` of a job of the Definitions, in a process of its own (with
    MIRANTE_EXECUTOR=celery it orchestrates; the workers run the steps)."""
    extra = ["--tags", json.dumps(tags)] if tags else []
    return subprocess.run(
        [
            str(BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "mirante.orchestration.definitions",
            "-j",
            job,
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
