"""Helpers of the e-SUS tests and drills: municipalities on the emulated PEC databases, and the
comparison of raw_esus with the sources, row by row (every pulled column, not just counts)."""

from __future__ import annotations

import socket
from urllib.parse import urlencode

import psycopg
from psycopg import sql

from mirante.emulators import pec
from mirante.loaders.esus.registry import Municipio
from mirante.loaders.esus.settings import TABLES, primary_key

PASSWORD = "pec-source-test"


def municipio(server, ident: str, port: int | None = None, host: str = "127.0.0.1") -> Municipio:
    """A registry entry for the emulated PEC database of `ident` (another port: e.g. a proxy, whose
    entry names the server's CA, as a registry entry may: the certificate is still the server's)."""
    url = f"postgresql://{pec.SOURCE_ROLE}@{host}:{port or server.port}/{pec.database_name(ident)}"
    if port and port != server.port and server.ssl.get("sslrootcert"):
        url += "?" + urlencode({"sslrootcert": server.ssl["sslrootcert"]}, safe="/")
    return Municipio(ident, ident, "", url)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest(conn: psycopg.Connection, relation: sql.Composable, table: str, where: sql.Composable) -> tuple:
    """(rows, distinct keys, md5 of the pulled columns of every row in key order)."""
    cols = sql.SQL(", ").join(map(sql.Identifier, TABLES[table]))
    key = sql.Identifier(primary_key(table))
    return conn.execute(
        sql.SQL(
            "select count(*), count(distinct {k}), md5(coalesce(string_agg(r::text, '|' order by r.{k}), '')) "
            "from (select {c} from {t}{w}) r"
        ).format(k=key, c=cols, t=relation, w=where)
    ).fetchone()


def differences(server, ident: str, tables=TABLES, database: str | None = None) -> dict[str, tuple]:
    """Tables where raw_esus (rows of `ident`) differs from the source's rows: {table: (source
    digest, raw digest)}; empty when raw = source. Duplicated keys in raw show as a difference too
    (rows != distinct keys)."""
    out = {}
    with (
        psycopg.connect(server.admin(pec.database_name(ident))) as src,
        psycopg.connect(server.admin(database)) as raw,
    ):
        for table in tables:
            a = _digest(src, sql.Identifier(table), table, sql.SQL(""))
            b = _digest(
                raw,
                sql.Identifier("raw_esus", table),
                table,
                sql.SQL(" where id_municipio = {}").format(sql.Literal(ident)),
            )
            if a != b or b[0] != b[1]:
                out[table] = (a, b)
    return out


def key_gaps(server, ident: str, table: str, database: str | None = None) -> tuple[int, int]:
    """(source keys missing from raw, raw keys with no source row or duplicated) for one table."""
    key = primary_key(table)
    with psycopg.connect(server.admin(pec.database_name(ident))) as src:
        source = [
            r[0]
            for r in src.execute(
                sql.SQL("select {} from {}").format(sql.Identifier(key), sql.Identifier(table))
            )
        ]
    with psycopg.connect(server.admin(database)) as conn:
        raw = [
            r[0]
            for r in conn.execute(
                sql.SQL("select {} from raw_esus.{} where id_municipio = %s").format(
                    sql.Identifier(key), sql.Identifier(table)
                ),
                (ident,),
            )
        ]
    missing = len(set(source) - set(raw))
    extra = len(set(raw) - set(source)) + (len(raw) - len(set(raw)))
    return missing, extra


def run_log(
    server, run_id: str | None = None, ident: str | None = None, database: str | None = None
) -> list[tuple]:
    """(id_execucao, id_municipio, status, tipo_erro, codigo_erro, erro, tentativas, sum(linhas))
    per run and municipality, oldest first."""
    where, params = [], []
    if run_id:
        where.append("id_execucao = %s")
        params.append(run_id)
    if ident:
        where.append("id_municipio = %s")
        params.append(ident)
    clause = (" where " + " and ".join(where)) if where else ""
    with psycopg.connect(server.admin(database)) as conn:
        return conn.execute(
            f"""select id_execucao, id_municipio, min(status), min(tipo_erro), min(codigo_erro), min(erro),
                       max(tentativas), sum(linhas)
                from raw_esus.execucoes{clause}
                group by id_execucao, id_municipio order by min(inicio), id_municipio""",
            params,
        ).fetchall()


class StallProxy:
    """A TCP proxy on 127.0.0.1 in front of a PEC database that stops forwarding the server's bytes
    after the first `stall_after` of them: a network stall in the middle of a read, which no
    server-side timeout can end (its error message would be stalled too)."""

    def __init__(self, target_port: int, stall_after: int):
        import threading

        self.target_port, self.stall_after = target_port, stall_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        import threading

        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, self.stall_after), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    self._stop.wait()  # stalled: hold the bytes until the proxy is closed
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass


def make_templates(server, ids, days: int, end) -> None:
    """Emulated PEC databases of `ids`, kept as templates (pec_<id>_modelo) that clone_sources
    copies in a fraction of a second: tests that change their sources start from fresh copies."""
    from psycopg import sql as _sql

    for ident in ids:
        pec.create_municipio(server, ident, PASSWORD, days=days, end=end)
        with psycopg.connect(server.admin("postgres"), autocommit=True) as conn:
            conn.execute(
                _sql.SQL("drop database if exists {} with (force)").format(_sql.Identifier(_template(ident)))
            )
            conn.execute(
                _sql.SQL("alter database {} rename to {}").format(
                    _sql.Identifier(pec.database_name(ident)), _sql.Identifier(_template(ident))
                )
            )


def _template(ident: str) -> str:
    return f"{pec.database_name(ident)}_modelo"


def clone_sources(server, ids) -> None:
    from psycopg import sql as _sql

    with psycopg.connect(server.admin("postgres"), autocommit=True) as conn:
        for ident in ids:
            name = _sql.Identifier(pec.database_name(ident))
            conn.execute(_sql.SQL("drop database if exists {} with (force)").format(name))
            conn.execute(
                _sql.SQL("create database {} template {} strategy file_copy").format(
                    name, _sql.Identifier(_template(ident))
                )
            )
            conn.execute(_sql.SQL("revoke all on database {} from public").format(name))
            conn.execute(
                _sql.SQL("grant connect on database {} to {}").format(name, _sql.Identifier(pec.SOURCE_ROLE))
            )


def drop_sources(server, ids, templates: bool = False) -> None:
    from psycopg import sql as _sql

    with psycopg.connect(server.admin("postgres"), autocommit=True) as conn:
        for ident in ids:
            names = [pec.database_name(ident)] + ([_template(ident)] if templates else [])
            for name in names:
                conn.execute(
                    _sql.SQL("drop database if exists {} with (force)").format(_sql.Identifier(name))
                )
