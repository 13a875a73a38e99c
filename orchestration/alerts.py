"""Operator alerts: three sensors that post short messages to the webhook of resource `alerts`
(MIRANTE_ALERT_WEBHOOK_URL, Slack-compatible). With no webhook configured they do nothing.

- `run_failure_alerts`: a failed run opens an *incident* per job and partition (municipality, for
  the e-SUS pull: a daily run that fails for 3 municipalities opens 3). One message when an incident
  opens; retries and re-executions of the same job and partition that fail again send nothing; the
  next run of that job and partition that succeeds sends one "RESOLVED" message and closes it.
- `check_failure_alerts`: the same for ERROR-severity asset checks that fail (incident: asset, check
  and the partition of the check or of its run); resolved when that check passes again.
- `esus_lateness_digest`: once a day, after that day's first finished e-SUS pull (or at
  DIGEST_DEADLINE_HOUR local time if none finished), ONE message listing every enabled municipality
  at D-2 or worse; nothing when none is late.

The incidents live in each sensor's cursor, not in a warehouse table: a failing warehouse is one of
the incidents to report, and the cursor is saved with the tick that delivered the message. Each run
is handled whole or not at all: its message is sent first and the cursor moves past the run (and the
incidents change) only when the webhook took it, so a webhook that is down delays alerts but loses
none. Messages carry the job, the partition, an error kind and a one-line summary with secrets
masked and URLs, IP addresses and host names removed (mirante.errors: published text is a kind and a
code); English, for operators.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    PartitionKeyRange,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from mirante.errors import mask
from mirante.loaders.esus import failures, registry
from mirante.loaders.esus.monitoring import lateness_and_volume
from mirante.orchestration.defs.atencao_primaria import esus_pull_job
from mirante.orchestration.defs.esus_lotes import JOB_NAME as ESUS_BATCH_JOB
from mirante.orchestration.resources import Alerts, Warehouse

#: run storages keep some update times to the second: look this far back and skip the runs seen
_MARGIN = timedelta(seconds=5)
#: runs handled per tick (a long backlog drains over a few ticks)
_BATCH = 50
#: lines of one message listing incidents or municipalities (the rest is counted)
MAX_LINES = 40
#: the lateness digest's day and deadline (the e-SUS pull runs at 05:00 there)
TIMEZONE = ZoneInfo("America/Sao_Paulo")
DIGEST_DEADLINE_HOUR = 10
#: a municipality is late from this many days after its latest day with records (D-2)
LATE_DAYS = 2

_NO_WEBHOOK = "no alert webhook configured (MIRANTE_ALERT_WEBHOOK_URL)"
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_IP = re.compile(r"\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?(?::\d+)?|\[[0-9a-f:]+\](?::\d+)?", re.IGNORECASE)
_HOST_PORT = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*:\d{2,5}\b", re.IGNORECASE)
_NAMED_HOST = re.compile(
    r"\b(host(?:name)?|server at|servidor)(\s*[=:]?\s*)(\"[^\"]*\"|'[^']*'|[^\s<]\S*)", re.IGNORECASE
)


def summary(text: str | None, limit: int = 160) -> str:
    """One line of `text` fit for an alert: secrets masked (mirante.errors.mask), URLs, IP
    addresses, host:port pairs and quoted host names replaced by `<host>`, cut to `limit`."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    line = mask(lines[0]) if lines else ""
    line = _URL.sub("<url>", line)
    line = _NAMED_HOST.sub(lambda m: f"{m[1]}{m[2]}<host>", line)
    line = _IP.sub("<host>", line)
    line = _HOST_PORT.sub("<host>", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return [*lines[:MAX_LINES], f"... and {len(lines) - MAX_LINES} more"]


def _municipality_names() -> dict[str, str]:
    return {m.id_municipio: f"{m.nome}/{m.sigla_uf}" for m in registry.load()}


def _label(job: str, partition: str, names: dict[str, str]) -> str:
    if not partition:
        return "(no partition)"
    name = names.get(partition) if job == esus_pull_job.name else None
    return f"{partition} ({name})" if name else partition


# --------------------------------------------------------------------------------------------
# finished runs since the cursor, each handled once


def _start(context: SensorEvaluationContext) -> dict | None:
    """The cursor's state; None after writing the first one (an empty cursor starts from now, so
    turning a sensor on never replays past runs)."""
    if context.cursor:
        return json.loads(context.cursor)
    now = datetime.now(UTC)
    seen = {r.dagster_run.run_id: r.update_timestamp.isoformat() for r in _finished(context.instance, now)}
    context.update_cursor(json.dumps({"desde": now.isoformat(), "vistos": seen, "abertos": {}}))
    return None


def _finished(instance, since: datetime):
    return instance.get_run_records(
        filters=RunsFilter(
            updated_after=since - _MARGIN, statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]
        ),
        order_by="update_timestamp",
        ascending=True,
    )


def _handle_runs(context: SensorEvaluationContext, alerts: Alerts, state: dict, evaluate) -> SkipReason:
    """Call `evaluate(run, open_incidents) -> (message or None, new open incidents)` for each
    finished run not handled yet, oldest first; deliver the message, then record the run as handled
    and keep the new incidents. Stops at the first message the webhook did not take: that run is
    evaluated again next tick."""
    since = datetime.fromisoformat(state["desde"])
    seen: dict[str, str] = state["vistos"]
    pending = [r for r in _finished(context.instance, since) if r.dagster_run.run_id not in seen]
    sent = handled = 0
    problem = None
    for record in pending[:_BATCH]:
        message, opened = evaluate(record.dagster_run, state["abertos"])
        if message is not None:
            if not alerts.send(*message, log=context.log):
                problem = f"webhook did not take the alert of run {record.dagster_run.run_id[:8]}: retried next tick"
                break
            sent += 1
        handled += 1
        state["abertos"] = opened
        seen[record.dagster_run.run_id] = record.update_timestamp.isoformat()
        since = max(since, record.update_timestamp)
    state["desde"] = since.isoformat()
    state["vistos"] = {i: t for i, t in seen.items() if datetime.fromisoformat(t) >= since - _MARGIN}
    context.update_cursor(json.dumps(state))
    if problem:
        context.log.warning(problem)
        return SkipReason(problem)
    return SkipReason(f"{handled} finished run(s) handled, {sent} alert(s) sent")


def _run_scope(run: DagsterRun, context: SensorEvaluationContext) -> tuple[str, list[str]]:
    """(incident partition of a whole-run failure, partitions the run covers): the partition tag;
    for a run over a range of partitions `start...end` and the keys of the range; else ''."""
    tags = run.tags
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG], [tags[PARTITION_NAME_TAG]]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        keys = [start, end]
        repo = context.repository_def
        if repo is not None and repo.has_job(run.job_name):
            partitions = repo.get_job(run.job_name).partitions_def
            if partitions is not None:
                keys = list(partitions.get_partition_keys_in_range(PartitionKeyRange(start, end)))
        return f"{start}...{end}", keys
    return "", []


def _error(error) -> tuple[str, str]:
    """(kind, message) of a serialized error: the innermost cause's class and message."""
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "Error", ""
    kind = error.cls_name or "Error"
    return kind, error.message.removeprefix(f"{kind}: ")


def _esus_code(error) -> str:
    """kind/code of an e-SUS pull error (loaders/esus/failures.py rules over its chain's text)."""
    parts = []
    while error is not None:
        parts.append(f"{error.cls_name} {error.message}".lower())
        error = error.cause
    text = " | ".join(parts)
    kind, code = next(
        ((k, c) for k, c, needles in failures.RULES if any(n in text for n in needles)), failures.UNKNOWN
    )
    return f"{kind}/{code}"


def _run_failure(instance, run: DagsterRun) -> tuple[str, str, dict[str, str]]:
    """(error kind, summary, {partition: kind/code}) of a failed run. The last one is filled from
    a failure's `codigos` metadata (the e-SUS pull: each municipality that failed, with its kind
    and code; the others of the run loaded)."""
    for record in instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data
        codes: dict[str, str] = {}
        user = data.user_failure_data
        if user is not None and "codigos" in user.metadata:
            codes = {str(k): str(v) for k, v in user.metadata["codigos"].value.items()}
        kind, message = _error(data.error)
        if not codes and run.job_name == esus_pull_job.name and PARTITION_NAME_TAG in run.tags and data.error:
            codes = {run.tags[PARTITION_NAME_TAG]: _esus_code(data.error)}
        if user is not None and user.description:
            # with codes, only the count before the per-municipality details (hosts, users)
            message = user.description.split(":")[0] if codes else user.description
        return f"step {event.step_key}: {kind}", summary(message), codes
    for record in instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_FAILURE).records:
        entry = record.event_log_entry
        data = entry.dagster_event.event_specific_data
        reason = getattr(data, "failure_reason", None)
        kind = reason.value.lower() if reason is not None else "run_failure"
        message = _error(data.error)[1] if getattr(data, "error", None) else entry.dagster_event.message
        return kind, summary(message or entry.user_message), {}
    return "run_failure", "", {}


def _key(job: str, partition: str) -> str:
    return f"{job}|{partition}"


# --------------------------------------------------------------------------------------------
# failed runs


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Posts one alert per incident (job and partition) when a run fails, none for its "
    "retries, and a RESOLVED message when that job and partition next succeeds (MIRANTE_ALERT_WEBHOOK_URL).",
)
def run_failure_alerts(context: SensorEvaluationContext, alerts: Alerts):
    """Cursor: the finished runs handled (update-time watermark) and the open incidents."""
    if not alerts.configured():
        return SkipReason(_NO_WEBHOOK)
    state = _start(context)
    if state is None:
        return SkipReason("started: alerting on runs that finish from now on")
    names = _municipality_names()

    def evaluate(run: DagsterRun, opened: dict) -> tuple[tuple | None, dict]:
        opened = dict(opened)
        whole, covered = _run_scope(run, context)
        failed: dict[str, str] = {}
        kind = text = ""
        fine = {whole, *covered}  # a success: every partition of the run is fine again
        if run.status == DagsterRunStatus.FAILURE:
            kind, text, codes = _run_failure(context.instance, run)
            # a run that names the partitions that failed loaded the others; one that does not
            # (a crash) says nothing of them
            failed = codes or {whole: ""}
            fine = fine - set(codes) if codes else set()
        resolved = sorted(p for p in fine if _key(run.job_name, p) in opened)
        new = sorted(p for p in failed if _key(run.job_name, p) not in opened)
        incidents_since = {p: opened.pop(_key(run.job_name, p))["desde"] for p in resolved}
        for p in new:
            opened[_key(run.job_name, p)] = {"desde": run_time(context.instance, run), "execucao": run.run_id}
        if not new and not resolved:
            return None, opened
        lines, incidents = [], []
        if new:
            head = f"FAILED: job {run.job_name}"
            if len(new) == 1:
                code = failed[new[0]]
                lines.append(f"{head}, partition {_label(run.job_name, new[0], names)}: {code or kind}")
            else:
                lines.append(f"{head}, {len(new)} partitions:")
                lines += _listed([f"- {_label(run.job_name, p, names)}: {failed[p] or kind}" for p in new])
            if text:
                lines.append(f"summary: {text}")
            lines.append(f"run {run.run_id[:8]}; retries of the same partition are not alerted again")
            incidents += [
                {"status": "failed", "partition": p, "error": failed[p] or kind, "summary": text} for p in new
            ]
        if resolved:
            who = (
                f"partition {_label(run.job_name, resolved[0], names)}"
                if len(resolved) == 1
                else f"{len(resolved)} partitions ({', '.join(_listed(resolved))})"
            )
            lines.append(
                f"RESOLVED: job {run.job_name}, {who}: run {run.run_id[:8]} succeeded "
                f"(failing since {_short(incidents_since[resolved[0]])})"
            )
            incidents += [
                {"status": "resolved", "partition": p, "since": incidents_since[p]} for p in resolved
            ]
        fields = {"alert": "run_failure", "job": run.job_name, "run_id": run.run_id, "incidents": incidents}
        return ("\n".join(lines), fields), opened

    return _handle_runs(context, alerts, state, evaluate)


def run_time(instance, run: DagsterRun) -> str:
    record = instance.get_run_record_by_id(run.run_id)
    stamp = (record.end_time or record.update_timestamp.timestamp()) if record else None
    return datetime.fromtimestamp(stamp, UTC).isoformat() if stamp else datetime.now(UTC).isoformat()


def _short(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------------------------
# failed ERROR checks


def _check_summary(evaluation) -> str:
    if evaluation.description:
        return summary(evaluation.description)
    parts = []
    for name, value in evaluation.metadata.items():
        raw = getattr(value, "value", value)
        if isinstance(raw, bool | int | float | str) and str(raw) != "":
            parts.append(f"{name}={raw}")
    return summary(", ".join(parts[:4]))


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Posts one alert when an ERROR-severity asset check fails (per asset, check and "
    "partition), none while it keeps failing, and a RESOLVED message when it passes again "
    "(MIRANTE_ALERT_WEBHOOK_URL).",
)
def check_failure_alerts(context: SensorEvaluationContext, alerts: Alerts):
    """Cursor: the finished runs handled (update-time watermark) and the open check incidents."""
    if not alerts.configured():
        return SkipReason(_NO_WEBHOOK)
    state = _start(context)
    if state is None:
        return SkipReason("started: alerting on checks of runs that finish from now on")
    names = _municipality_names()

    def evaluate(run: DagsterRun, opened: dict) -> tuple[tuple | None, dict]:
        opened = dict(opened)
        whole, _ = _run_scope(run, context)
        results = {}  # the last evaluation of each check in the run
        for record in context.instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
        ).records:
            evaluation = record.event_log_entry.dagster_event.event_specific_data
            partition = evaluation.partition or whole
            check = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
            results[f"{check}|{partition}"] = (check, partition, evaluation)
        new, resolved = [], []
        for key, (check, partition, evaluation) in results.items():
            if evaluation.passed and key in opened:
                resolved.append((check, partition, opened.pop(key)["desde"]))
            elif (
                not evaluation.passed
                and evaluation.severity == AssetCheckSeverity.ERROR
                and key not in opened
            ):
                opened[key] = {"desde": run_time(context.instance, run), "execucao": run.run_id}
                new.append((check, partition, _check_summary(evaluation)))
        if not new and not resolved:
            return None, opened
        where = f"job {run.job_name}" + (f", partition {_label(run.job_name, whole, names)}" if whole else "")
        lines = []
        if new:
            lines.append(f"CHECK FAILED (ERROR): {where}, run {run.run_id[:8]}:")
            lines += _listed(
                [
                    f"- {c}"
                    + (f" [{_label(run.job_name, p, names)}]" if p != whole else "")
                    + (f": {s}" if s else "")
                    for c, p, s in new
                ]
            )
        if resolved:
            lines.append(f"RESOLVED: {where}, run {run.run_id[:8]}: these checks pass again:")
            lines += _listed(
                [
                    f"- {c}"
                    + (f" [{_label(run.job_name, p, names)}]" if p != whole else "")
                    + f" (failing since {_short(d)})"
                    for c, p, d in resolved
                ]
            )
        incidents = [{"status": "failed", "check": c, "partition": p, "summary": s} for c, p, s in new] + [
            {"status": "resolved", "check": c, "partition": p, "since": d} for c, p, d in resolved
        ]
        fields = {"alert": "check_failure", "job": run.job_name, "run_id": run.run_id, "incidents": incidents}
        return ("\n".join(lines), fields), opened

    return _handle_runs(context, alerts, state, evaluate)


# --------------------------------------------------------------------------------------------
# the daily e-SUS lateness digest


def now() -> datetime:
    """The digest's clock (local time of the e-SUS pull's schedule)."""
    return datetime.now(TIMEZONE)


def lateness_digest(stats: dict[str, dict], day, names: dict[str, str]) -> tuple[str, dict] | None:
    """The digest of `lateness_and_volume`'s statistics: every municipality at D-2 or worse (or with
    no records at all) in one message, the latest first; None when none is late."""
    late = {i: s for i, s in stats.items() if s["dias_de_atraso"] is None or s["dias_de_atraso"] >= LATE_DAYS}
    if not late:
        return None
    order = sorted(late, key=lambda i: (-(late[i]["dias_de_atraso"] or 10**6), i))
    lines = [f"e-SUS lateness {day}: {len(late)} of {len(stats)} municipalities at D-{LATE_DAYS} or worse"]
    lines += _listed(
        [
            f"- {i} {names.get(i, '')}: "
            + (
                f"last day {late[i]['ultimo_dia']} (D-{late[i]['dias_de_atraso']})"
                if late[i]["ultimo_dia"]
                else "no records"
            )
            for i in order
        ]
    )
    fields = {
        "alert": "esus_lateness",
        "day": str(day),
        "municipalities": len(stats),
        "late": [
            {
                "id_municipio": i,
                "name": names.get(i, ""),
                "last_day": str(late[i]["ultimo_dia"]) if late[i]["ultimo_dia"] else None,
                "days_late": late[i]["dias_de_atraso"],
            }
            for i in order
        ],
    }
    return "\n".join(lines), fields


@sensor(
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Once a day, after the first e-SUS pull that finishes (or at 10:00 America/Sao_Paulo), "
    "posts ONE message listing every enabled municipality at D-2 or worse; nothing when none is late.",
)
def esus_lateness_digest(context: SensorEvaluationContext, alerts: Alerts, warehouse: Warehouse):
    """Cursor: the last local day whose digest was handled (sent, or nothing late)."""
    if not alerts.configured():
        return SkipReason(_NO_WEBHOOK)
    local = now()
    day = local.date()
    if context.cursor == day.isoformat():
        return SkipReason(f"the lateness digest of {day} is done")
    midnight = datetime.combine(day, time(), TIMEZONE)
    # the pull in one step (in process) or in batches (Celery workers: defs/esus_lotes.py)
    pulled = [
        record
        for job_name in (esus_pull_job.name, ESUS_BATCH_JOB)
        for record in context.instance.get_run_records(
            filters=RunsFilter(
                job_name=job_name,
                statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
                updated_after=midnight.astimezone(UTC),
            ),
            limit=1,
        )
    ]
    if not pulled and local.hour < DIGEST_DEADLINE_HOUR:
        return SkipReason(f"waiting for today's e-SUS pull (or {DIGEST_DEADLINE_HOUR}:00)")
    municipalities = registry.load(enabled_only=True)
    stats = lateness_and_volume(warehouse.server(), [m.id_municipio for m in municipalities], day)
    digest = lateness_digest(stats, day, {m.id_municipio: f"{m.nome}/{m.sigla_uf}" for m in municipalities})
    if digest is not None and not alerts.send(*digest, log=context.log):
        return SkipReason("webhook did not take the lateness digest: retried next tick")
    context.update_cursor(day.isoformat())
    if digest is None:
        return SkipReason(f"{day}: no municipality at D-{LATE_DAYS} or worse")
    return SkipReason(f"{day}: lateness digest sent ({len(digest[1]['late'])} municipalities)")


SENSORS = [run_failure_alerts, check_failure_alerts, esus_lateness_digest]
