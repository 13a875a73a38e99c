"""The pool of read-only connections the API answers from (bounded, with a statement timeout)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from mirante.api.errors import ApiError

log = logging.getLogger("mirante.api")


APPLICATION_NAME = "mirante-api"


class Pool:
    """A small thread-safe pool of reader connections (at most `size` open at once).

    Every session is read-only and has a statement timeout; a broken connection is dropped, an
    idle one reused (LIFO, so the warm ones)."""

    def __init__(self, url: str, size: int = 4, timeout: float = 10.0, statement_timeout_ms: int = 5000):
        self.url, self.size, self.timeout = url, size, timeout
        self.statement_timeout_ms = statement_timeout_ms
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=10,
            application_name=APPLICATION_NAME,
            options=f"-c statement_timeout={self.statement_timeout_ms} -c default_transaction_read_only=on",
        )
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self._closed:
            raise ApiError(503, "the API is shutting down")
        if not self._slots.acquire(timeout=self.timeout):
            raise ApiError(503, "all database connections are busy; retry shortly")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                pass
            if conn is None or conn.closed or conn.broken:
                try:
                    conn = self._connect()
                except psycopg.OperationalError:
                    log.exception("cannot connect to the database")
                    raise ApiError(503, "the database is unavailable; retry shortly") from None
            yield conn
        finally:
            if conn is not None:
                if (
                    self._closed
                    or conn.closed
                    or conn.broken
                    or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
                ):
                    conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    def discard_idle(self) -> None:
        """Close the idle connections (after one was found dead: the others likely are too)."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def close(self) -> None:
        self._closed = True
        self.discard_idle()
