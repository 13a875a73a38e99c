"""What every HTTP emulator shares: serving on loopback in daemon threads, an optional generator
that advances the emulated clock, stop() and the context manager."""

from __future__ import annotations

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
