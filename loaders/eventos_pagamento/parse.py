"""One line of the stream -> a raw row or a quarantine reason (no I/O, unit-testable).

The offset is read first and must be there: without it the line cannot be placed in the stream,
which is the source's fault, not one event's (EventosError: the batch fails, nothing is written).
Everything else that is wrong with an event sends it to quarantine with a reason code, and the
stream moves past it (its offset is consumed: raw_eventos_pagamento.quarentena holds it).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

TIPOS = ("pix_recebido", "pix_enviado", "liquidacao_cartao")
OBRIGATORIOS = (
    "id_evento",
    "tipo",
    "agencia",
    "conta",
    "valor",
    "ocorrido_em",
    "contraparte_documento",
    "id_transacao",
)
#: a positive amount as the source writes it: digits, a point, at most 2 decimals
_VALOR = re.compile(r"^\d{1,16}(\.\d{1,2})?$")
_DOCUMENTO = re.compile(r"^(\d{11}|\d{14})$")


class EventosError(RuntimeError):
    """The stream answered something that is not a stream of events (no offset, not JSON, a gap)."""


class EventosLacunaError(EventosError):
    """Offsets are not dense after the stored one: an event would be lost if the batch were loaded."""


@dataclass(frozen=True)
class Linha:
    """One line of a batch: its offset, the raw text, and either a row or a quarantine reason."""

    deslocamento: int
    conteudo: str
    linha: dict | None
    motivo: str | None = None
    detalhe: str | None = None


def offset_of(text: str) -> tuple[int, object]:
    """(offset, parsed JSON) of a line; EventosError when there is no integer offset."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise EventosError(f"a line of the stream is not JSON: {text[:120]!r}") from None
    n = obj.get("deslocamento") if isinstance(obj, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise EventosError(f"a line of the stream has no offset (deslocamento): {text[:120]!r}")
    return n, obj


def classify(n: int, obj: dict, text: str) -> Linha:
    """Linha with the typed row, or with the reason the event goes to quarantine."""

    def bad(motivo: str, detalhe: str) -> Linha:
        return Linha(n, text, None, motivo, detalhe)

    missing = [k for k in OBRIGATORIOS if not isinstance(obj.get(k), str) or not obj.get(k).strip()]
    if missing:
        return bad("campo_ausente", "sem " + ", ".join(missing))
    try:
        id_evento = str(uuid.UUID(obj["id_evento"]))
    except ValueError:
        return bad("id_evento_invalido", obj["id_evento"][:80])
    tipo = obj["tipo"]
    if tipo not in TIPOS:
        return bad("tipo_invalido", tipo[:80])
    if not _VALOR.match(obj["valor"]) or Decimal(obj["valor"]) <= 0:
        return bad("valor_invalido", obj["valor"][:80])
    try:
        when = datetime.fromisoformat(obj["ocorrido_em"])
    except ValueError:
        return bad("data_invalida", obj["ocorrido_em"][:80])
    if when.tzinfo is None:
        return bad("data_invalida", "sem fuso horário: " + obj["ocorrido_em"][:60])
    if not _DOCUMENTO.match(obj["contraparte_documento"]):
        return bad("documento_invalido", "esperado CPF (11) ou CNPJ (14 dígitos)")
    bandeira = obj.get("bandeira")
    if tipo == "liquidacao_cartao" and not (isinstance(bandeira, str) and bandeira.strip()):
        return bad("bandeira_invalida", "liquidação de cartão sem bandeira")
    if tipo != "liquidacao_cartao" and bandeira is not None:
        return bad("bandeira_invalida", f"bandeira em {tipo}")
    return Linha(
        n,
        text,
        {
            "deslocamento": n,
            "id_evento": id_evento,
            "tipo": tipo,
            "agencia": obj["agencia"],
            "conta": obj["conta"],
            "valor": Decimal(obj["valor"]),
            "ocorrido_em": when,
            "contraparte_documento": obj["contraparte_documento"],
            "bandeira": bandeira.strip().lower() if bandeira else None,
            "id_transacao": obj["id_transacao"],
        },
    )


def parse_batch(desde: int, lines: list[str], ultimo_publicado: int | None = None) -> list[Linha]:
    """Every line of an answer to `desde`, checked dense from desde + 1 (EventosLacunaError
    otherwise); an empty answer while the source says it published past `desde` is a gap too."""
    out: list[Linha] = []
    expected = desde + 1
    for text in lines:
        if not text.strip():
            continue
        n, obj = offset_of(text)
        if n != expected:
            raise EventosLacunaError(
                f"the stream skipped offsets: expected {expected} after {expected - 1}, got {n}; nothing loaded"
            )
        out.append(classify(n, obj, text))
        expected += 1
    if not out and ultimo_publicado is not None and ultimo_publicado > desde:
        raise EventosLacunaError(
            f"the stream says it published up to {ultimo_publicado} but served nothing after {desde}; "
            "nothing loaded"
        )
    return out
