"""raw_eventos_pagamento: the events, their quarantine and the stored offset, and the ONE
transaction that publishes a micro-batch into all three.

Exactly once: a batch's events, its quarantined lines and the new offset are committed together or
not at all. A run killed anywhere before COMMIT leaves the three tables as they were (the next run
reads the same offset and fetches the same events again); after COMMIT all of it is there and the
next run starts past it. Under the offset row's lock the stored offset must still be the one the
batch was read from (another ingester that got there first makes this one fail, not double), and
the tables' keys (offset; event id) refuse what would still slip through.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from .parse import Linha
from .settings import DATASET, STREAM

EVENTOS = f"{DATASET}.eventos"
QUARENTENA = f"{DATASET}.quarentena"
DESLOCAMENTOS = f"{DATASET}.deslocamentos"

#: columns of raw_eventos_pagamento.eventos written from the source (the batch's two follow)
COLUNAS = (
    "deslocamento",
    "id_evento",
    "tipo",
    "agencia",
    "conta",
    "valor",
    "ocorrido_em",
    "contraparte_documento",
    "bandeira",
    "id_transacao",
)

DDL = (
    f"""create table if not exists {EVENTOS} (
        deslocamento          bigint primary key,
        id_evento             text not null,
        tipo                  text not null,
        agencia               text not null,
        conta                 text not null,
        valor                 numeric(18, 2) not null check (valor > 0),
        ocorrido_em           timestamptz not null,
        contraparte_documento text not null,
        bandeira              text,
        id_transacao          text not null,
        _id_lote              text not null,
        _carregado_em         timestamptz not null
    )""",
    f"create unique index if not exists eventos_id_evento on {EVENTOS} (id_evento)",
    f"""create table if not exists {QUARENTENA} (
        deslocamento  bigint primary key,
        motivo        text not null,
        detalhe       text,
        conteudo      text not null,
        _id_lote      text not null,
        _carregado_em timestamptz not null
    )""",
    f"""create table if not exists {DESLOCAMENTOS} (
        stream              text primary key,
        ultimo_deslocamento bigint not null,
        ultimo_lote         text,
        atualizado_em       timestamptz not null
    )""",
)


class EventosConcorrencia(RuntimeError):
    """The stored offset moved since the batch was read: another ingester published it."""


@dataclass(frozen=True)
class Publicado:
    id_lote: str
    desde: int
    ate: int
    eventos: int
    quarentena: int


def ensure_tables(conn: psycopg.Connection) -> None:
    """The three tables (as the loader role, which owns the schema); idempotent."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mirante.eventos_pagamento.ddl'))")
        for statement in DDL:
            conn.execute(statement)


def stored_offset(conn: psycopg.Connection, stream: str = STREAM) -> int:
    """The last offset committed (0 before the first batch, or before the tables exist)."""
    if not conn.execute("select to_regclass(%s)", (DESLOCAMENTOS,)).fetchone()[0]:
        return 0
    row = conn.execute(
        f"select ultimo_deslocamento from {DESLOCAMENTOS} where stream = %s", (stream,)
    ).fetchone()
    return row[0] if row else 0


def publish(conn: psycopg.Connection, desde: int, linhas: list[Linha], id_lote: str) -> Publicado:
    """Events, quarantine and offset of one batch read after `desde`, in ONE transaction."""
    with conn.transaction():
        result = _write(conn, desde, linhas, id_lote)
    return result


def _write(conn: psycopg.Connection, desde: int, linhas: list[Linha], id_lote: str) -> Publicado:
    """Every statement of the batch's transaction (COMMIT is the caller's)."""
    conn.execute(
        f"insert into {DESLOCAMENTOS} values (%s, 0, null, now()) on conflict (stream) do nothing", (STREAM,)
    )
    stored = conn.execute(
        f"select ultimo_deslocamento from {DESLOCAMENTOS} where stream = %s for update", (STREAM,)
    ).fetchone()[0]
    if stored != desde:
        raise EventosConcorrencia(
            f"the stored offset is {stored}, the batch was read after {desde}: another ingester "
            "published in between; nothing loaded (the next run reads from the stored offset)"
        )
    good = [li for li in linhas if li.linha is not None]
    # an event id the stream sent before (at another offset) is a repeat, not a new payment
    ids = [li.linha["id_evento"] for li in good]
    seen = {r[0] for r in conn.execute(f"select id_evento from {EVENTOS} where id_evento = any(%s)", (ids,))}
    eventos, quarentena = [], [li for li in linhas if li.linha is None]
    for li in good:
        if li.linha["id_evento"] in seen:
            quarentena.append(
                Linha(li.deslocamento, li.conteudo, None, "id_evento_repetido", li.linha["id_evento"])
            )
        else:
            seen.add(li.linha["id_evento"])
            eventos.append(li)
    now = conn.execute("select now()").fetchone()[0]
    with conn.cursor() as cur:
        with cur.copy(f"copy {EVENTOS} ({', '.join(COLUNAS)}, _id_lote, _carregado_em) from stdin") as copy:
            for li in eventos:
                copy.write_row([*(li.linha[c] for c in COLUNAS), id_lote, now])
        if quarentena:
            with cur.copy(
                f"copy {QUARENTENA} (deslocamento, motivo, detalhe, conteudo, _id_lote, _carregado_em) from stdin"
            ) as copy:
                for li in sorted(quarentena, key=lambda q: q.deslocamento):
                    copy.write_row([li.deslocamento, li.motivo, li.detalhe, li.conteudo, id_lote, now])
    ate = linhas[-1].deslocamento if linhas else desde
    conn.execute(
        f"update {DESLOCAMENTOS} set ultimo_deslocamento = %s, ultimo_lote = %s, atualizado_em = now() "
        "where stream = %s",
        (ate, id_lote, STREAM),
    )
    return Publicado(id_lote, desde, ate, len(eventos), len(quarentena))
