"""The data of the dashboard's Operação page (GET /v1/operacao, api/operacao.py): recent runs by job,
freshness of every raw source and mart, SLA states and the e-SUS municipalities' lateness.

Why this module exists: the page must say what Prometheus says. So it reads nothing of its own: the
runs, materializations and e-SUS statistics come from the exporter's collector
(orchestration/metrics.py: `run_counts`, `materialized_at`, `esus_stats`) over the same Dagster
instance and warehouse, and the thresholds are those of monitoring/alerts.yml (a test compares them).

    snapshot(collector)   the page's JSON (Portuguese keys, like every API answer)
    provider(home)        what the data API is given to answer GET /v1/operacao
    sla_states(c, i)      the SLA list of the page
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from mirante.orchestration.metrics import MARTS, MiranteCollector

#: seconds after which an asset is stale, by layer: MiranteSourceStale (raw) and MiranteMartStale
#: (marts) in monitoring/alerts.yml
STALE_AFTER_S = {"raw": 30 * 3600, "marts": 36 * 3600}
#: days late from which a municipality is late: MiranteMunicipalityLate (mirante_esus_days_late >= 2)
LATE_DAYS = 2
#: failures are counted over this window
FAILURE_WINDOW_S = 24 * 3600
FAILURE = "FAILURE"


def sla_states(collector: MiranteCollector, instance) -> list[dict]:
    """Per process of orchestration/slas.yml: {"processo", "descricao", "tipo", "estado" ("ok" |
    "violado"), "alvo_s", "observado_s", "meta", "observado", "referencia", "detalhe"}: the states
    the exporter's mirante_sla_* series carry (orchestration/sla.py)."""
    from mirante.orchestration.sla import as_row

    return [as_row(estado, s) for s, estado in collector.sla_states(instance)]


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp is not None else None


def _layer(asset: str) -> str:
    return "marts" if asset.split("/", 1)[0] == MARTS else "raw"


def _runs(collector: MiranteCollector, instance, now: float) -> list[dict]:
    """Per job: the latest run, the failures of the window and the totals by status (those of
    mirante_runs_total)."""
    records = instance.get_run_records()
    counts = collector.run_counts(records)
    jobs = sorted({job for job, _ in counts})
    latest: dict[str, object] = {}
    failures = dict.fromkeys(jobs, 0)
    for r in records:
        job = r.dagster_run.job_name
        if job not in latest or r.create_timestamp > latest[job].create_timestamp:
            latest[job] = r
        ended = r.end_time or r.create_timestamp.timestamp()
        if r.dagster_run.status.value == FAILURE and now - ended <= FAILURE_WINDOW_S:
            failures[job] += 1
    out = []
    for job in jobs:
        r = latest.get(job)
        out.append(
            {
                "job": job,
                "ultima": None
                if r is None
                else {
                    "run_id": r.dagster_run.run_id,
                    "status": r.dagster_run.status.value,
                    "criada_em": r.create_timestamp.astimezone(UTC).isoformat(),
                    "inicio": _iso(r.start_time),
                    "fim": _iso(r.end_time),
                    "duracao_s": r.end_time - r.start_time if r.start_time and r.end_time else None,
                },
                "falhas_24h": failures[job],
                "por_status": {s: n for (j, s), n in sorted(counts.items()) if j == job},
            }
        )
    return out


def _freshness(collector: MiranteCollector, instance, now: float) -> list[dict]:
    out = []
    for asset, timestamp in collector.materialized_at(instance).items():
        layer = _layer(asset)
        age = None if timestamp is None else now - timestamp
        out.append(
            {
                "ativo": asset,
                "camada": layer,
                "materializado_em": _iso(timestamp),
                "idade_s": age,
                "limite_s": STALE_AFTER_S[layer],
                "desatualizado": age is None or age > STALE_AFTER_S[layer],
            }
        )
    return out


def _municipalities(collector: MiranteCollector, names: dict[str, str]) -> list[dict]:
    out = []
    for ident, row in collector.esus_stats().items():
        late = row["dias_de_atraso"]
        last: date | None = row["ultimo_dia"]
        out.append(
            {
                "id_municipio": ident,
                "nome": names.get(ident, ident),
                "dias_de_atraso": late,
                "ultimo_dia": last.isoformat() if last else None,
                "registros_ultimo_dia": row["registros_ultimo_dia"],
                "media_7_dias": row["media_7_dias"],
                "atrasado": late is None or late >= LATE_DAYS,
            }
        )
    return sorted(
        out, key=lambda m: (-(m["dias_de_atraso"] if m["dias_de_atraso"] is not None else 1e9), m["nome"])
    )


def _registry_names() -> dict[str, str]:
    from mirante.loaders.esus import registry

    return {m.id_municipio: m.nome for m in registry.load()}


def snapshot(
    collector: MiranteCollector, names: dict[str, str] | None = None, now: float | None = None
) -> dict:
    """The page's data. A part that cannot be read (instance, warehouse) is reported in `erros` with
    its list empty; the others are still served."""
    now = time.time() if now is None else now
    out: dict = {
        "gerado_em": _iso(now),
        "execucoes": [],
        "frescor": [],
        "slas": [],
        "municipios": [],
        "limites": {
            "desatualizado_s": STALE_AFTER_S,
            "atraso_dias": LATE_DAYS,
            "janela_falhas_s": FAILURE_WINDOW_S,
        },
        "erros": [],
    }
    try:
        with collector.instance() as instance:
            out["execucoes"] = _runs(collector, instance, now)
            out["frescor"] = _freshness(collector, instance, now)
            out["slas"] = sla_states(collector, instance)
    except Exception as exc:
        out["erros"].append(f"armazenamento do Dagster: {exc}")
    if collector.server is not None:
        try:
            out["municipios"] = _municipalities(collector, _registry_names() if names is None else names)
        except Exception as exc:
            out["erros"].append(f"e-SUS: {exc}")
    return out


def provider(dagster_home: Path | None = None) -> Callable[[], dict]:
    """`operations` for the data API (api/operacao.py): the snapshot over the Dagster instance at
    `dagster_home` (default: the one `mirante metrics` reads) and the running warehouse. The
    collector is built on the first request (reading the Definitions takes seconds) and reused."""
    lock = threading.Lock()
    built: list[MiranteCollector] = []

    def operations() -> dict:
        with lock:
            if not built:
                from mirante.orchestration import metrics

                built.append(metrics.collector_for(dagster_home))
        return snapshot(built[0])

    return operations
