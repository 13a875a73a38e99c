"""What went wrong with a municipality's pull, in two published words: a kind (`transitorio`:
retried, the next run tries again; `permanente`: not retried, an operator must act) and a short code
(`conexao_recusada`, `autenticacao`, `tabela_ausente`...). Marts and the data API carry only these
two; the run log (raw_esus.execucoes, readable by the transformer role only) also keeps the masked
message for operators.
"""

from __future__ import annotations

from mirante.errors import chain_text

TRANSIENT = "transitorio"
PERMANENT = "permanente"

#: (kind, code, substrings of the exception chain, lower case): the first match wins, so the
#: specific permanent causes come before the generic connection failures that wrap them
RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        PERMANENT,
        "autenticacao",
        (
            "password authentication failed",
            "no password supplied",
            "no password for",
            "pg_hba.conf rejects",
            'role "',
        ),
    ),
    # the server's certificate or TLS policy (not "ssl error" alone: a connection cut mid-read says
    # "SSL error: unexpected eof while reading", which is transient)
    (
        PERMANENT,
        "certificado_tls",
        (
            "certificate verify failed",
            "certificate",
            "sslmode",
            "sslrootcert",
            "server does not support ssl",
            "tlsv1 alert",
            "no encryption",
        ),
    ),
    (PERMANENT, "banco_inexistente", ("invalid catalog name", 'database "')),
    (PERMANENT, "coluna_ausente", ("undefinedcolumn", 'column "')),
    (PERMANENT, "tabela_ausente", ("undefinedtable", 'relation "')),
    (PERMANENT, "tipo_alterado", ("changed type", "has no arrow mapping", "type mismatch")),
    (PERMANENT, "permissao_negada", ("permission denied", "insufficientprivilege")),
    (
        PERMANENT,
        "dado_rejeitado",
        (
            "invalid input syntax",
            "value too long",
            "out of range",
            "datatype mismatch",
            "not-null constraint",
            "invalidtextrepresentation",
        ),
    ),
    (TRANSIENT, "em_uso", ("in use by another run",)),
    (
        TRANSIENT,
        "tempo_esgotado",
        ("statement timeout", "lock timeout", "timeout expired", "timed out", "timeout", "deadline"),
    ),
    (
        TRANSIENT,
        "conexao_recusada",
        (
            "connection refused",
            "could not connect",
            "no route to host",
            "could not translate host name",
            "name or service not known",
        ),
    ),
    (
        TRANSIENT,
        "servidor_indisponivel",
        (
            "the database system is starting up",
            "the database system is shutting down",
            "the database system is in recovery mode",
            "too many clients",
            "temporarily unavailable",
            "cannot connect now",
        ),
    ),
    (
        TRANSIENT,
        "conexao_perdida",
        (
            "server closed the connection",
            "connection reset",
            "terminating connection",
            "consuming input failed",
            "connection is lost",
            "ssl syscall error",
            "eof detected",
            "unexpected eof",
            "the connection is closed",
            "broken pipe",
            "adminshutdown",
        ),
    ),
)
#: a killed run's rows, closed by the next run
INTERRUPTED = (TRANSIENT, "interrompido")
UNKNOWN = (PERMANENT, "desconhecido")


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, code) of an exception, from the text of its whole chain of causes. What is not known
    to be transient is permanent: retrying an unknown error hides it."""
    text = chain_text(exc)
    for kind, code, needles in RULES:
        if any(n in text for n in needles):
            return kind, code
    return UNKNOWN


class DeadlineExceeded(TimeoutError):
    """A municipality's wall-clock budget ran out (the connection was cut client-side)."""


class InUse(RuntimeError):
    """Another run holds the municipality (its pull waited past its budget)."""
