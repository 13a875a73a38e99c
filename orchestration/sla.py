"""SLAs per process: one checked-in configuration (orchestration/slas.yml), one evaluation.

`evaluate()` reads what Dagster and the warehouse already record (run step times, materializations,
the SNIS publication state) and says, for each process, whether it is within its SLA now, with the
limit and the observed figure in seconds. Everything SLA-shaped is derived from it:

- the Dagster checks `sla_<processo>` (orchestration/defs/operacao.py, ERROR severity, non-blocking), attached to
  the process's asset: they run inside the jobs that run the process (so a slow load is judged when
  it ends) and in job `sla` when `sla_sensor` sees a state change (a hung run, a missed deadline);
  a failing one is an incident for `check_failure_alerts` (orchestration/alerts.py), "resolved" when
  it passes again;
- every breach, recorded by the check as one row of operacao.violacoes_sla (process, reference,
  limit, observed, excess, start, end), upserted by reference: a breach seen by several checks stays
  one row, its figures updated until the process ends; dbt's `agg_sla_violacoes` aggregates it;
  every evaluation also updates the process's row of operacao.avaliacoes_sla (its latest state);
- the exporter's `mirante_sla_ok{process}`, `mirante_sla_target_seconds` and
  `mirante_sla_observed_seconds` (orchestration/metrics.py);
- Dagster freshness policies on assets (`freshness_policies()`, section `frescor`), evaluated by the
  daemon's freshness loop and shown per asset in the UI.

Observed figures, by kind (orchestration/slas.yml says the same to operators):
duracao: the summed duration of the matching steps of the latest run that ran any (a running step
counts until now); prazo: seconds after local midnight when the day's scheduled run succeeded (or
now, while it has not); atualizacao: from the latest raw materialization to the latest mart
materialization after it (or now, while none); publicacao: from an export's publication to the load
of its bytes into raw_snis (or now), the worst export.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from mirante import config

KINDS = ("duracao", "prazo", "atualizacao", "publicacao")
#: the breach table (written by the loader role; mirante/db.py creates it)
BREACH_TABLE = config.SLA_BREACH_TABLE
STATE_TABLE = config.SLA_STATE_TABLE
#: runs looked at per job when searching the latest run of a process's steps
_RUNS_PER_JOB = 5
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str | int | float) -> float:
    """'90s', '30m', '2h', '30d' (or a number of seconds) in seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(text))
    if not match:
        raise ValueError(f"SLA duration {text!r}: expected a number and a unit (s, m, h, d), e.g. 30m")
    return float(match[1]) * _UNITS[match[2]]


@dataclass(frozen=True)
class Sla:
    processo: str
    tipo: str
    descricao: str
    #: asset key path of the check `sla_<processo>`
    ativo: tuple[str, ...]
    #: seconds (for `prazo`: the deadline's seconds after local midnight)
    limite_s: float
    passos: tuple[str, ...] = ()
    agenda: str | None = None
    fuso: str = "America/Sao_Paulo"

    @property
    def check_name(self) -> str:
        return f"sla_{self.processo}"

    def limite_texto(self) -> str:
        if self.tipo == "prazo":
            return f"até {_clock(self.limite_s)} ({self.fuso})"
        return human(self.limite_s)


@dataclass(frozen=True)
class Estado:
    """One process's SLA state at `avaliado_em`."""

    processo: str
    ok: bool
    limite_s: float
    #: None: nothing to judge yet (the process never ran)
    observado_s: float | None
    #: what the figure is about: a run id, a day, a raw load, an export
    referencia: str | None = None
    inicio: datetime | None = None
    #: None while the process has not ended
    fim: datetime | None = None
    detalhe: str = ""
    avaliado_em: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def excesso_s(self) -> float:
        return max(0.0, (self.observado_s or 0.0) - self.limite_s)


# ------------------------------------------------------------------------------ configuration


def _path(default: Path | None = None) -> Path:
    return Path(config.sla_file() or default or config.ROOT / "orchestration" / "slas.yml")


def _read(path: Path | None = None) -> dict:
    return yaml.safe_load(_path(path).read_text(encoding="utf-8")) or {}


def load(path: Path | None = None) -> list[Sla]:
    """The SLAs of the configuration (MIRANTE_SLA_FILE, else orchestration/slas.yml)."""
    out = []
    for name, item in (_read(path).get("processos") or {}).items():
        kind = item.get("tipo")
        if kind not in KINDS:
            raise ValueError(f"SLA {name}: tipo {kind!r} is not one of {', '.join(KINDS)}")
        if kind == "prazo":
            hours, minutes = (int(x) for x in str(item["hora"]).split(":"))
            limit = hours * 3600 + minutes * 60
        else:
            limit = seconds(item["limite"])
        if kind == "duracao" and not item.get("passos"):
            raise ValueError(f"SLA {name}: tipo duracao needs `passos` (Dagster step keys)")
        if kind == "prazo" and not item.get("agenda"):
            raise ValueError(f"SLA {name}: tipo prazo needs `agenda` (a schedule name)")
        out.append(
            Sla(
                processo=name,
                tipo=kind,
                descricao=item.get("descricao", ""),
                ativo=tuple(str(item["ativo"]).split("/")),
                limite_s=limit,
                passos=tuple(item.get("passos") or ()),
                agenda=item.get("agenda"),
                fuso=item.get("fuso", "America/Sao_Paulo"),
            )
        )
    return out


def freshness_policies(path: Path | None = None) -> list[tuple[str, object]]:
    """(asset key prefix, dagster FreshnessPolicy) of section `frescor`."""
    from dagster import FreshnessPolicy

    out = []
    for item in _read(path).get("frescor") or []:
        window = timedelta(seconds=seconds(item["janela"]))
        if item.get("prazo"):
            policy = FreshnessPolicy.cron(
                deadline_cron=item["prazo"], lower_bound_delta=window, timezone=item.get("fuso", "UTC")
            )
        else:
            policy = FreshnessPolicy.time_window(fail_window=window)
        out.append((item["ativos"], policy))
    return out


# --------------------------------------------------------------------------------- evaluation


@cache
def _step_jobs() -> dict[str, tuple[str, ...]]:
    """Job name -> its step keys (ops), from Mirante's Definitions."""
    from mirante.orchestration.definitions import defs

    return {
        job.name: tuple(job.graph.node_dict)
        for job in defs.resolve_all_job_defs()
        if not job.name.startswith("__")
    }


def evaluate(
    instance,
    slas: list[Sla] | None = None,
    now: datetime | None = None,
    server=None,
    jobs: dict[str, tuple[str, ...]] | None = None,
) -> list[Estado]:
    """Every SLA's state (see the module docstring). `server`: the warehouse (config.Server) for
    `publicacao`; without it that SLA is not judged. `jobs`: job -> step keys (default: Mirante's)."""
    now = now or datetime.now(UTC)
    jobs = jobs if jobs is not None else _step_jobs()
    out = []
    for sla in slas if slas is not None else load():
        judge = {
            "duracao": lambda s: _duration(instance, s, now, jobs),
            "prazo": lambda s: _deadline(instance, s, now),
            "atualizacao": lambda s: _refresh(instance, s, now),
            "publicacao": lambda s: _publication(s, now, server),
        }[sla.tipo]
        out.append(judge(sla))
    return out


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _nothing(sla: Sla, now: datetime, why: str) -> Estado:
    """Nothing to judge yet: within the SLA, no figure."""
    return Estado(sla.processo, True, sla.limite_s, None, detalhe=why, avaliado_em=now)


def _judged(sla: Sla, now: datetime, observed: float, **facts) -> Estado:
    """The state of `observed` against the SLA's limit (`facts`: referencia, inicio, fim, detalhe)."""
    return Estado(sla.processo, observed <= sla.limite_s, sla.limite_s, observed, avaliado_em=now, **facts)


def _duration(instance, sla: Sla, now: datetime, jobs: dict) -> Estado:
    from dagster import RunsFilter

    def matches(step: str) -> bool:
        return any(fnmatch.fnmatchcase(step, p) for p in sla.passos)

    latest = None
    for job in sorted(j for j, steps in jobs.items() if any(matches(s) for s in steps)):
        for record in instance.get_run_records(RunsFilter(job_name=job), limit=_RUNS_PER_JOB):
            stats = [s for s in instance.get_run_step_stats(record.dagster_run.run_id) if matches(s.step_key)]
            stats = [s for s in stats if s.start_time is not None]
            if stats:
                start = min(s.start_time for s in stats)
                if latest is None or start > latest[1]:
                    latest = (record.dagster_run.run_id, start, stats)
                break  # the most recent run of this job that ran the steps
    if latest is None:
        return _nothing(sla, now, "nunca executado")
    run_id, start, stats = latest
    running = any(s.end_time is None for s in stats)
    observed = sum((s.end_time or now.timestamp()) - s.start_time for s in stats)
    return _judged(
        sla,
        now,
        observed,
        referencia=run_id,
        inicio=_ts(start),
        fim=None if running else _ts(max(s.end_time for s in stats)),
        detalhe=f"{len(stats)} passo(s) da execução {run_id[:8]}" + (" em andamento" if running else ""),
    )


def _deadline(instance, sla: Sla, now: datetime) -> Estado:
    from dagster import DagsterRunStatus, RunsFilter

    tz = ZoneInfo(sla.fuso)
    local = now.astimezone(tz)
    deadline = datetime.combine(local.date(), time(), tz) + timedelta(seconds=sla.limite_s)
    # the day whose deadline passed last: today once the deadline passed, else yesterday
    day = local.date() if local >= deadline else local.date() - timedelta(days=1)
    midnight = datetime.combine(day, time(), tz)
    scheduled = instance.get_run_records(RunsFilter(tags={"dagster/schedule_name": sla.agenda}), limit=50)
    # judged once the schedule has launched a run (that day or before): a schedule never turned on
    # misses nothing, one that stopped launching misses every day after
    if not any(r.create_timestamp.astimezone(tz).date() <= day for r in scheduled):
        return _nothing(sla, now, f"agenda {sla.agenda} ainda sem execuções")
    runs = [r for r in scheduled if r.create_timestamp.astimezone(tz).date() == day]
    done = [r for r in runs if r.dagster_run.status == DagsterRunStatus.SUCCESS and r.end_time]
    if done:
        end = _ts(min(r.end_time for r in done))
        observed = (end - midnight).total_seconds()
        detail = f"execução agendada de {day} concluída às {end.astimezone(tz):%H:%M}"
    else:
        end = None
        observed = (now - midnight).total_seconds()
        status = runs[0].dagster_run.status.value if runs else "não iniciada"
        detail = f"execução agendada de {day}: {status}"
    return _judged(
        sla,
        now,
        observed,
        referencia=day.isoformat(),
        inicio=midnight.astimezone(UTC),
        fim=end,
        detalhe=detail,
    )


@cache
def _watched() -> tuple:
    from mirante.orchestration.metrics import catalogue

    return catalogue().watched


def _refresh(instance, sla: Sla, now: datetime) -> Estado:
    from dagster import AssetKey

    from mirante.orchestration.metrics import MARTS, RAW_PREFIX

    watched = _watched()
    latest = instance.get_latest_materialization_events([AssetKey(p) for p in watched])
    raw = [e.timestamp for k, e in latest.items() if e and k.path[0].startswith(RAW_PREFIX)]
    marts = [e.timestamp for k, e in latest.items() if e and k.path[0] == MARTS]
    if not raw:
        return _nothing(sla, now, "nenhuma carga raw")
    loaded = max(raw)
    after = [t for t in marts if t >= loaded]
    end = max(after) if after else None
    observed = (end if end is not None else now.timestamp()) - loaded
    return _judged(
        sla,
        now,
        observed,
        referencia=f"raw:{_ts(loaded).isoformat(timespec='seconds')}",
        inicio=_ts(loaded),
        fim=_ts(end),
        detalhe="marts reconstruídos" if after else "marts ainda não reconstruídos",
    )


def _publication(sla: Sla, now: datetime, server) -> Estado:
    from mirante.loaders.snis import publicacao

    published = publicacao.published_exports()
    if server is None or not published:
        detail = "sem publicação configurada" if not published else "sem banco"
        return _nothing(sla, now, detail)
    import psycopg

    with psycopg.connect(server.url("transformer")) as conn:
        exists = conn.execute("select to_regclass('raw_snis.arquivos') is not null").fetchone()[0]
        loaded = exists and dict(
            conn.execute(
                "select sha256, min(to_timestamp(_dlt_load_id::numeric)) from raw_snis.arquivos "
                "where sha256 = any(%s) group by 1",
                ([p["sha256"] for p in published],),
            ).fetchall()
        )
    loaded = loaded or {}  # before the first SNIS load the table does not exist
    worst = None
    for item in published:
        at = datetime.fromisoformat(item["publicado_em"])
        end = loaded.get(item["sha256"])
        observed = ((end or now) - at).total_seconds()
        if worst is None or observed > worst[0]:
            worst = (observed, item, at, end)
    observed, item, at, end = worst
    return _judged(
        sla,
        now,
        observed,
        referencia=f"{item['nome']}@{item['sha256'][:12]}",
        inicio=at,
        fim=end,
        detalhe=f"{item['nome']} " + ("carregado" if end else "ainda não carregado"),
    )


def human(s: float) -> str:
    if s < 1:
        return f"{s:.2f} s"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)} {unit}"
    return f"{s / 60:.0f} min" if s >= 60 else f"{s:.0f} s"


def _clock(s: float) -> str:
    return f"{int(s // 3600):02d}:{int(s % 3600 // 60):02d}"


def observed_text(estado: Estado, sla: Sla) -> str | None:
    """The observed figure as people read it: a clock time for a deadline, a duration otherwise."""
    if estado.observado_s is None:
        return None
    return _clock(estado.observado_s) if sla.tipo == "prazo" else human(round(estado.observado_s))


def as_row(estado: Estado, sla: Sla) -> dict:
    """One process's state for the data API and the dashboard (Portuguese keys)."""
    return {
        "processo": sla.processo,
        "descricao": sla.descricao,
        "tipo": sla.tipo,
        "estado": "ok" if estado.ok else "violado",
        "alvo_s": sla.limite_s,
        "observado_s": estado.observado_s,
        "meta": sla.limite_texto(),
        "observado": observed_text(estado, sla),
        "referencia": estado.referencia,
        "detalhe": estado.detalhe,
    }


def describe(estado: Estado, sla: Sla) -> str:
    """One line for the check's description and the alert."""
    if estado.observado_s is None:
        return f"{sla.processo}: {estado.detalhe}"
    seen = observed_text(estado, sla)
    verdict = "dentro do SLA" if estado.ok else "SLA violado"
    return f"{sla.processo}: {verdict} ({seen}; limite {sla.limite_texto()}) - {estado.detalhe}"


# ------------------------------------------------------------------------------ breach table


def record(srv, estado: Estado, sla: Sla) -> bool:
    """As the loader role, in one transaction: the process's latest evaluation (operacao.
    avaliacoes_sla, one row per process) and, when it is a breach, the breach (operacao.
    violacoes_sla, one row per process and reference, its figures growing until the process
    ends). Returns True when a breach was written. A state within its SLA closes nothing: a breach
    stays recorded."""
    import psycopg

    schema = config.OPERATIONS_SCHEMA
    values = {
        "id": f"{sla.processo}:{estado.referencia}",
        "processo": sla.processo,
        "tipo": sla.tipo,
        "ok": estado.ok,
        "referencia": estado.referencia,
        "limite": sla.limite_s,
        "observado": estado.observado_s,
        "excesso": estado.excesso_s,
        "inicio": estado.inicio,
        "fim": estado.fim,
        "agora": estado.avaliado_em,
        "detalhe": estado.detalhe,
    }
    breach = not estado.ok and estado.observado_s is not None
    with psycopg.connect(srv.url("loader")) as conn:
        conn.execute(
            f"""insert into {schema}.{STATE_TABLE} as a
                  (processo, ok, limite_segundos, observado_segundos, referencia, detalhe, avaliado_em)
                values (%(processo)s, %(ok)s, %(limite)s, %(observado)s, %(referencia)s, %(detalhe)s, %(agora)s)
                on conflict (processo) do update set
                  ok = excluded.ok, limite_segundos = excluded.limite_segundos,
                  observado_segundos = excluded.observado_segundos, referencia = excluded.referencia,
                  detalhe = excluded.detalhe, avaliado_em = excluded.avaliado_em
                where a.avaliado_em <= excluded.avaliado_em""",
            values,
        )
        if breach:
            conn.execute(
                f"""insert into {schema}.{BREACH_TABLE} as v
                      (id_violacao, processo, tipo, referencia, limite_segundos, observado_segundos,
                       excesso_segundos, inicio, fim, detectada_em, atualizada_em, detalhe)
                    values (%(id)s, %(processo)s, %(tipo)s, %(referencia)s, %(limite)s, %(observado)s,
                            %(excesso)s, %(inicio)s, %(fim)s, %(agora)s, %(agora)s, %(detalhe)s)
                    on conflict (id_violacao) do update set
                      observado_segundos = greatest(v.observado_segundos, excluded.observado_segundos),
                      excesso_segundos = greatest(v.excesso_segundos, excluded.excesso_segundos),
                      fim = coalesce(excluded.fim, v.fim),
                      atualizada_em = greatest(v.atualizada_em, excluded.atualizada_em),
                      detalhe = excluded.detalhe""",
                values,
            )
    return breach


# ------------------------------------------------------------------------------------ sensor


def sensor_state(estados: list[Estado]) -> dict[str, list]:
    """What `sla_sensor` keeps between ticks: per process, (ok, reference, ended)."""
    return {e.processo: [e.ok, e.referencia, e.fim is not None] for e in estados}


def changed(previous: str | None, estados: list[Estado]) -> list[str]:
    """Processes to judge again: a breach that is new, whose reference changed (another run, day,
    load, export) or whose process ended since (final figures), and a recovery. A process within
    its SLA with a new reference is not: the check ran inside the job that ran it."""
    before = json.loads(previous) if previous else {}
    out = []
    for processo, (ok, referencia, ended) in sensor_state(estados).items():
        was = before.get(processo)
        if (not ok and was != [ok, referencia, ended]) or (ok and was is not None and not was[0]):
            out.append(processo)
    return sorted(out)
