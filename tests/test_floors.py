"""Imports point one way (DESIGN.md "Floors"): every import of every project file, function-local
ones included, is checked against the floor of the package it lives in."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each package's floor; a package may import its own modules and those of lower floors only.
FLOORS = {
    "pulse": 0,  # the core: settings, query, schema, store, derived tables, export, privacy
    "loaders": 1,  # writing the store
    "metrics": 1,  # reading it
    "admin": 1,  # the admin database
    "ui": 2,  # screen helpers
    "cli": 2,  # the command line
    "pages": 3,  # the screen
    "app": 3,
}
# Below the screen nobody draws; the screen never talks SQL to the store itself.
FORBIDDEN = {
    "streamlit": {"pulse", "loaders", "metrics", "admin", "cli"},
    "duckdb": {"ui", "pages", "app"},
}
# ui serves the screen alone.
ONLY_FROM = {"ui": {"ui", "pages", "app"}}


def package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return "app" if parts == ("app.py",) else parts[0]


def project_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for package in FLOORS:
        if package != "app":
            files += sorted((ROOT / package).rglob("*.py"))
    return files


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level name) of every import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, package_of(path)))  # a relative import stays in its package
    return found


def breaches(files: list[Path]) -> list[str]:
    out = []
    for path in files:
        here = package_of(path)
        where = path.relative_to(ROOT)
        for line, name in imports(path):
            if name in FORBIDDEN and here in FORBIDDEN[name]:
                out.append(f"{where}:{line} imports {name}, which {here} must not use")
            if name not in FLOORS or name == here:
                continue
            if name in ONLY_FROM and here not in ONLY_FROM[name]:
                out.append(f"{where}:{line} imports {name}, which only {', '.join(sorted(ONLY_FROM[name]))} may use")
            elif FLOORS[name] >= FLOORS[here]:
                out.append(f"{where}:{line}: {here} (floor {FLOORS[here]}) imports {name} (floor {FLOORS[name]})")
    return out


def test_every_import_points_down():
    assert breaches(project_files()) == []


def test_every_project_package_has_a_floor():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {p.name for p in ROOT.glob("pages")}
    assert packages - {"tests"} <= set(FLOORS)


@pytest.mark.parametrize(
    "place, source, expected",
    [
        ("pulse/extra.py", "def f():\n    from metrics import registry\n", "pulse/extra.py:2: pulse (floor 0) imports metrics (floor 1)"),
        ("metrics/extra.py", "import loaders.files\n", "metrics/extra.py:1: metrics (floor 1) imports loaders (floor 1)"),
        ("loaders/extra.py", "import streamlit as st\n", "loaders/extra.py:1 imports streamlit, which loaders must not use"),
        ("pages/extra.py", "import duckdb\n", "pages/extra.py:1 imports duckdb, which pages must not use"),
        ("cli/extra.py", "from ui import cache\n", "cli/extra.py:1 imports ui, which only app, pages, ui may use"),
        ("metrics/extra.py", "from pulse.query import Query\nfrom . import base\n", None),
    ],
)
def test_a_breach_is_caught(tmp_path, monkeypatch, place, source, expected):
    """The check itself: an upward, sideways or forbidden import in a file is reported."""
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    path = tmp_path / place
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert breaches([path]) == ([expected] if expected else [])
