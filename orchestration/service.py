"""`mirante serve`: Mirante as an always-on service, not a command a person types.

Enters the offline world (emulators/world.py: the same database, PEC databases and emulators as
`mirante run`; a deployment that configures its sources gets no emulator), keeps the Dagster
instance in PostgreSQL (orchestration/instance.py `postgres_storage`, its own database), and runs
`dagster-daemon` (schedules, sensors, the run queue, run monitoring), `dagster-webserver` and the
Prometheus exporter (`mirante metrics`, orchestration/metrics.py) as child processes until Ctrl-C, SIGTERM or `mirante serve stop`; then stops them and what it started.
A child that dies stops the service with an error (a supervisor such as systemd restarts it: see
docs/deploy/). Schedules and sensors are RUNNING by default (their `default_status`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mirante import config, db

#: the code location every process of the service loads
DEFINITIONS_MODULE = "mirante.orchestration.definitions"


def pid_file() -> Path:
    return config.home() / "serve.pid"


def instance_home() -> Path:
    return config.home() / "dagster-serve"


def alive(pid: int) -> bool:
    """The process exists and has not exited (an exited child its parent has not reaped yet, a
    zombie, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def running_pid() -> int | None:
    """The PID of a running `mirante serve` of this MIRANTE_HOME, if any."""
    try:
        pid = int(pid_file().read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def _commands(host: str, port: int, metrics_port: int) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    return {
        # reads the service's instance (DAGSTER_HOME of its environment) and the warehouse
        "metrics": [str(bin_dir / "mirante"), "metrics", "--host", host, "--port", str(metrics_port)],
        "daemon": [str(bin_dir / "dagster-daemon"), "run", "-m", DEFINITIONS_MODULE],
        "webserver": [
            str(bin_dir / "dagster-webserver"),
            "-h",
            host,
            "-p",
            str(port),
            "-m",
            DEFINITIONS_MODULE,
        ],
    }


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """`sig` to the child's whole process group (its session, see `serve`): the code servers
    (`dagster api grpc`) and runs the daemon and the webserver start are in it, and a child
    killed after the timeout would otherwise leave them running."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(procs: dict[str, subprocess.Popen], timeout: float = 60) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # whatever of a group outlived its leader (a code server past its own shutdown) goes too
    for proc in procs.values():
        _signal_group(proc, signal.SIGKILL)


def prepare_instance(srv: config.Server) -> Path:
    """The service's Dagster storage and instance (database, role, dagster.yaml), idempotent: what
    `serve` does before starting its children, and what a deployment's units run first
    (`mirante serve prepare`, docs/deploy/)."""
    from mirante.orchestration import instance

    db.setup_dagster_storage(srv)
    name = f"MIRANTE_{config.DAGSTER_ROLE.upper()}_PASSWORD"
    config.export({name: config.role_password(config.DAGSTER_ROLE) or ""})
    return instance.prepare(instance_home(), storage=instance.postgres_storage(srv))


def serve(
    host: str = "127.0.0.1", port: int = 3000, metrics_port: int = 9108, ready: threading.Event | None = None
) -> int:
    """Run the service in the foreground; returns 0 after a requested stop, 1 when a child died."""
    from mirante.emulators import world

    other = running_pid()
    if other:
        print(f"mirante serve already runs (pid {other}): `mirante serve stop` first", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    started_server = config.external_server() is None and not db.embedded_running()
    procs: dict[str, subprocess.Popen] = {}
    rc = 0
    try:
        with world.offline() as offline:
            prepare_instance(offline.server)
            pid_file().write_text(f"{os.getpid()}\n")
            env = config.child_environment()
            for role, cmd in _commands(host, port, metrics_port).items():
                # a session of their own: a terminal's Ctrl-C reaches this process, which stops them
                procs[role] = subprocess.Popen(cmd, env=env, start_new_session=True)
            print(
                f"mirante serve: Dagster UI on http://{host}:{port}, metrics on "
                f"http://{host}:{metrics_port}/metrics; pids: "
                + ", ".join(f"{role} {p.pid}" for role, p in procs.items())
                + " (stop: Ctrl-C or `mirante serve stop`)",
                flush=True,
            )
            if ready is not None:
                ready.set()
            while not stop.wait(1):
                dead = [role for role, p in procs.items() if p.poll() is not None]
                if dead:
                    print(f"mirante serve: {', '.join(dead)} exited; stopping", file=sys.stderr)
                    rc = 1
                    break
            _stop(procs)
    finally:
        _stop(procs)
        if running_pid() == os.getpid():
            pid_file().unlink(missing_ok=True)
        if started_server:
            db.stop_embedded()
    return rc


def stop_service(timeout: float = 120) -> bool:
    """Ask a running `mirante serve` to stop (SIGTERM) and wait for it; False if none ran."""
    pid = running_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"mirante serve (pid {pid}) did not stop within {timeout:.0f} s")
        time.sleep(0.5)
    return True
