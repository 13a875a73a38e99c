"""The layers import downwards only. Parses every module's imports (top level and inside functions,
absolute and relative) and fails when a lower layer imports a higher one:

- `mirante/config.py`, `db.py`, `backup.py`, `pipelines.py`, `errors.py`, `relatorios.py` (the core)
  import no other layer;
- loaders (`loaders/` = `mirante.loaders`) never import orchestration, the API or the emulators;
- the API (`api/`) never imports loaders or orchestration;
- expectations never import orchestration or the API; emulators never import orchestration or the API.

`pyproject.toml` maps the top-level folders to `mirante.<layer>` (see the README, "Where to look")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = (
    "mirante.config",
    "mirante.db",
    "mirante.backup",
    "mirante.pipelines",
    "mirante.errors",
    "mirante.relatorios",
)
HIGHER = (
    "mirante.loaders",
    "mirante.orchestration",
    "mirante.api",
    "mirante.emulators",
    "mirante.expectations",
    "mirante.cli",
)
#: folder -> (its package, the packages it must not import)
RULES = {
    "loaders": (
        "mirante.loaders",
        ("mirante.orchestration", "mirante.api", "mirante.emulators", "mirante.cli"),
    ),
    "api": ("mirante.api", ("mirante.loaders", "mirante.orchestration", "mirante.cli")),
    "expectations": ("mirante.expectations", ("mirante.orchestration", "mirante.api", "mirante.cli")),
    "emulators": ("mirante.emulators", ("mirante.orchestration", "mirante.api", "mirante.cli")),
}


def imported(source: str, package: str) -> set[str]:
    """Absolute names of the modules a module's source imports (relative ones resolved from `package`,
    the package the module is in)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names |= {f"{module}.{a.name}" for a in node.names}
    return names


def violations(source: str, package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        n for n in imported(source, package) if any(n == f or n.startswith(f + ".") for f in forbidden)
    )


def modules(folder: str, package: str):
    for path in sorted((ROOT / folder).rglob("*.py")):
        # the package a module is in: its folder (for __init__.py too)
        yield path, ".".join([package, *path.relative_to(ROOT / folder).parent.parts])


@pytest.mark.parametrize("folder", sorted(RULES))
def test_a_layer_imports_no_higher_layer(folder):
    package, forbidden = RULES[folder]
    found = {
        str(path.relative_to(ROOT)): bad
        for path, pkg in modules(folder, package)
        if (bad := violations(path.read_text(), pkg, forbidden))
    }
    assert found == {}


def test_the_core_imports_no_other_layer():
    found = {}
    for name in CORE:
        path = ROOT / "mirante" / f"{name.split('.')[1]}.py"
        if bad := violations(path.read_text(), "mirante", HIGHER):
            found[name] = bad
    assert found == {}


def test_the_checker_sees_every_form_of_import():
    """What the rules must catch, planted: top-level, inside a function, relative, `import x.y`."""
    planted = """
import mirante.orchestration.defs
from mirante.api import app
def f():
    from ..orchestration.run import materialize
from ..emulators import pec
from .settings import DATASET
"""
    found = violations(planted, "mirante.loaders.esus", RULES["loaders"][1])
    assert "mirante.orchestration.defs" in found
    assert "mirante.api.app" in found
    assert "mirante.orchestration.run.materialize" not in found  # `..` from loaders.esus is mirante.loaders
    assert violations(
        "from ...orchestration.run import materialize", "mirante.loaders.esus", ("mirante.orchestration",)
    ) == ["mirante.orchestration.run", "mirante.orchestration.run.materialize"]
    assert violations("from ..emulators import pec", "mirante.loaders.esus", ("mirante.emulators",)) == []
    assert violations("from ...emulators import pec", "mirante.loaders.esus", ("mirante.emulators",)) == [
        "mirante.emulators",
        "mirante.emulators.pec",
    ]
    assert violations("from .settings import DATASET", "mirante.loaders.esus", ("mirante.loaders",)) == [
        "mirante.loaders.esus.settings",
        "mirante.loaders.esus.settings.DATASET",
    ]
