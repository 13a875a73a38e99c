"""Tenant registry: which municipal PEC databases to pull (loaders/esus/municipios.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from mirante import config

from .settings import REGISTRY_FILE


@dataclass(frozen=True)
class Municipio:
    id_municipio: str
    nome: str
    sigla_uf: str
    conexao: str  # connection URL without password; ${VAR} expanded at use
    habilitado: bool = True

    def password(self) -> str:
        pw = config.esus_password(self.id_municipio)
        if not pw:
            raise RuntimeError(
                f"no password for the PEC database of {self.nome} ({self.id_municipio}): set "
                f"MIRANTE_ESUS_PASSWORD_{self.id_municipio} or [esus.senhas] in .dlt/secrets.toml"
            )
        return pw

    def url(self, password: str | None = None, warehouse: config.Server | None = None) -> str:
        """Connection URL with the password (never logged) and its TLS policy (config.esus_ssl: a
        `sslmode` / `sslrootcert` in `conexao` wins; `warehouse` tells which sources are on
        Mirante's own server, verified with its CA)."""
        parts = urlsplit(config.expand_variables(self.conexao))
        user = parts.username or ""
        host = parts.hostname or "127.0.0.1"
        netloc = f"{quote(user, safe='')}:{quote(password or self.password(), safe='')}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return config.with_params(
            urlunsplit(parts._replace(netloc=netloc)), config.esus_ssl(host, parts.port, warehouse)
        )

    def safe_url(self) -> str:
        return config.expand_variables(self.conexao)


def registry_file() -> Path:
    return config.esus_registry_file(REGISTRY_FILE)


def load(path: str | Path | None = None, *, enabled_only: bool = False) -> list[Municipio]:
    """Entries of the registry, validated (7-digit unique ids, a connection each)."""
    path = Path(path) if path else registry_file()
    with path.open("rb") as fh:
        entries = tomllib.load(fh).get("municipio", [])
    out: list[Municipio] = []
    seen: set[str] = set()
    for i, e in enumerate(entries, start=1):
        ident = str(e.get("id_municipio", ""))
        if len(ident) != 7 or not ident.isdigit():
            raise ValueError(f"{path}: entry {i}: id_municipio {ident!r} is not a 7-digit IBGE code")
        if ident in seen:
            raise ValueError(f"{path}: entry {i}: id_municipio {ident} is listed twice")
        if not e.get("conexao"):
            raise ValueError(f"{path}: entry {i} ({ident}): conexao is missing")
        if urlsplit(e["conexao"]).password:
            raise ValueError(f"{path}: entry {i} ({ident}): conexao must not hold a password")
        seen.add(ident)
        out.append(
            Municipio(
                ident,
                e.get("nome", ident),
                e.get("sigla_uf", ""),
                e["conexao"],
                bool(e.get("habilitado", True)),
            )
        )
    return [m for m in out if m.habilitado] if enabled_only else out


def write(path: str | Path, municipios: list[Municipio]) -> None:
    """Write a registry file (used by the bench to list its 650 databases)."""
    lines = ["# generated registry", ""]
    for m in municipios:
        lines += [
            "[[municipio]]",
            f'id_municipio = "{m.id_municipio}"',
            f'nome = "{m.nome}"',
            f'sigla_uf = "{m.sigla_uf}"',
            f'conexao = "{m.conexao}"',
            f"habilitado = {'true' if m.habilitado else 'false'}",
            "",
        ]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
