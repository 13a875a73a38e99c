"""Decoder of PostgreSQL's built-in logical decoding output (`pgoutput`, protocol version 1).

psycopg2 hands over each message's bytes (`decode=False`); this module turns them into small
records. Only what the capture needs: Begin, Commit, Relation, Insert, Update, Delete, Truncate;
Origin and Type messages are recognised and ignored. Column values arrive in their text form (the
type's output function), so the raw tables read them back with the same types' input functions.
Reference: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: pgoutput timestamps: microseconds since 2000-01-01 UTC
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: a value the update left untouched and did not send (TOASTed); taken from the old row if any
UNCHANGED = object()


def lsn_text(lsn: int) -> str:
    """64-bit LSN -> PostgreSQL's text form 'X/Y' (what a pg_lsn column reads)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    typmod: int
    key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Change:
    """An insert, update or delete: `new` and `old` are tuples of text values (None = NULL,
    UNCHANGED = not sent); `old` is the key or the whole old row (REPLICA IDENTITY), or None."""

    operation: str  # 'insert' | 'update' | 'delete'
    relation_oid: int
    new: tuple | None
    old: tuple | None


@dataclass(frozen=True)
class Truncate:
    relation_oids: tuple[int, ...]


@dataclass(frozen=True)
class Ignored:
    kind: str


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        values = struct.unpack_from("!" + fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def byte(self) -> str:
        value = self.data[self.pos : self.pos + 1].decode()
        self.pos += 1
        return value

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        value = self.data[self.pos : end].decode()
        self.pos = end + 1
        return value

    def bytes_(self, n: int) -> bytes:
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value

    def tuple_data(self) -> tuple:
        out = []
        for _ in range(self.take("h")):
            kind = self.byte()
            if kind == "n":
                out.append(None)
            elif kind == "u":
                out.append(UNCHANGED)
            elif kind in ("t", "b"):
                out.append(self.bytes_(self.take("i")).decode())
            else:
                raise ValueError(f"unknown pgoutput tuple column kind {kind!r}")
        return tuple(out)


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def decode(payload: bytes):
    """One pgoutput message -> Begin | Commit | Relation | Change | Truncate | Ignored."""
    r = _Reader(payload)
    kind = r.byte()
    if kind == "B":
        final_lsn, ts, xid = r.take("qqI")
        return Begin(final_lsn, _time(ts), xid)
    if kind == "C":
        _flags, commit_lsn, end_lsn, ts = r.take("bqqq")
        return Commit(commit_lsn, end_lsn, _time(ts))
    if kind == "R":
        oid = r.take("I")
        namespace, name = r.string(), r.string()
        identity = chr(r.take("b"))
        columns = []
        for _ in range(r.take("h")):
            flags = r.take("b")
            col_name = r.string()
            type_oid, typmod = r.take("Ii")
            columns.append(Column(col_name, type_oid, typmod, bool(flags & 1)))
        return Relation(oid, namespace, name, identity, tuple(columns))
    if kind == "I":
        oid = r.take("I")
        if r.byte() != "N":
            raise ValueError("pgoutput Insert without a new tuple")
        return Change("insert", oid, r.tuple_data(), None)
    if kind == "U":
        oid = r.take("I")
        old = None
        marker = r.byte()
        if marker in ("K", "O"):
            old = r.tuple_data()
            marker = r.byte()
        if marker != "N":
            raise ValueError("pgoutput Update without a new tuple")
        return Change("update", oid, r.tuple_data(), old)
    if kind == "D":
        oid = r.take("I")
        if r.byte() not in ("K", "O"):
            raise ValueError("pgoutput Delete without its key")
        return Change("delete", oid, None, r.tuple_data())
    if kind == "T":
        n, _options = r.take("ib")
        return Truncate(tuple(r.take("I") for _ in range(n)))
    if kind in ("O", "Y", "M"):
        return Ignored(kind)
    raise ValueError(f"unknown pgoutput message {kind!r}")
