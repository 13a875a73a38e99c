"""What the README names is what the code defines: every job, schedule, sensor, op, pool, asset
group and asset the README quotes (`job `x``, `schedule `x``, ...) exists in the Definitions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
#: the operations runbook names jobs, ops, sensors and assets too
RUNBOOK = (ROOT / "docs" / "operations.md").read_text()
#: "job `x`", "jobs `x` and `y`", "schedule `x`", ... : the names quoted after a kind word
KIND = re.compile(r"\b(job|schedule|sensor|op|pool|group|asset)s?\b((?:[ ,]*(?:and |or )?`[^`]+`)+)")


def quoted(kind: str, text: str = README) -> set[str]:
    names = set()
    for match in KIND.finditer(text):
        if match.group(1) == kind:
            names |= set(re.findall(r"`([^`]+)`", match.group(2)))
    return names


@pytest.fixture(scope="module")
def defined():
    from mirante.orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    ops = {node.name for job in defs.resolve_all_job_defs() for node in job.graph.nodes}
    pools = {node.definition.pool for job in defs.resolve_all_job_defs() for node in job.graph.nodes}
    return {
        "job": jobs,
        "schedule": {s.name for s in defs.schedules or []},
        "sensor": {s.name for s in defs.sensors or []},
        "op": ops,
        "pool": pools - {None},
        "group": {graph.get(k).group_name for k in graph.get_all_asset_keys()},
        "asset": {k.to_user_string() for k in graph.get_all_asset_keys()},
    }


@pytest.mark.parametrize("document", ["README.md", "docs/operations.md"])
@pytest.mark.parametrize("kind", ["job", "schedule", "sensor", "op", "pool", "group", "asset"])
def test_readme_names_exist(kind, document, defined):
    names = quoted(kind, {"README.md": README, "docs/operations.md": RUNBOOK}[document])
    # placeholders (`dlt_<pipeline>`, `raw_<source>/...`) and ellipses are not names
    names = {n for n in names if "<" not in n and "..." not in n and " " not in n}
    missing = sorted(names - defined[kind])
    assert not missing, f"{document} names {kind}(s) the Definitions do not have: {missing}"


def test_the_jobs_paragraph_names_jobs_schedules_and_sensors(defined):
    start = README.index("Jobs:")
    sentence = README[start : README.index(". ", README.index("`saneamento_snis`", start))]
    names = set(re.findall(r"`([a-z][a-z_]*)`", sentence))
    assert {"mirante_all", "esus_pull", "comercial", "saneamento"} <= names
    known = defined["job"] | defined["schedule"] | defined["sensor"]
    assert not sorted(names - known)


def test_the_pattern_finds_names():
    # the check above cannot pass vacuously: the README quotes each kind
    for kind in ("job", "schedule", "sensor", "pool", "group"):
        assert quoted(kind), kind
    for kind in ("job", "sensor", "op"):
        assert quoted(kind, RUNBOOK), kind
