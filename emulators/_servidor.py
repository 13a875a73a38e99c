"""What every HTTP emulator shares: serving on loopback in daemon threads, an optional generator
that advances the emulated clock, stop() and the context manager, and the command line that runs
one in the foreground (`python -m mirante.emulators.<name>`)."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Base of the running emulators. A subclass calls `_serve(...)` once its state is ready and,
    for a generator, implements `advance(dias)`."""

    name = "emulator"

    def _serve(
        self,
        host: str,
        port: int,
        handler: type[BaseHTTPRequestHandler],
        generator_interval: float | None = None,
    ) -> None:
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name=f"{self.name}-emulator", daemon=True)
        ]
        if generator_interval:
            self._threads.append(
                threading.Thread(
                    target=self._generate,
                    args=(generator_interval,),
                    name=f"{self.name}-generator",
                    daemon=True,
                )
            )
        for t in self._threads:
            t.start()

    def _generate(self, interval: float) -> None:
        """Generator mode: one emulated day every `interval` seconds."""
        while not self._stopping.wait(interval):
            self.advance(1)

    def advance(self, dias: int = 1) -> date:
        raise NotImplementedError(f"the {self.name} emulator has no clock")

    def stop(self) -> None:
        """Stop serving (and generating) and close the socket."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cli_parser(doc: str, **kwargs) -> argparse.ArgumentParser:
    """The command line of an emulator: its docstring's first line, --host and --port (0 = any
    free port); the emulator adds its own options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0], **kwargs)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    return parser


def run_in_foreground(emulator: LoopbackServer, banner: str | None = None) -> None:
    """Print the base URL (or `banner`), serve until SIGINT or SIGTERM, then stop."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    with emulator:
        print(banner or emulator.base_url, flush=True)
        stopping.wait()
