"""A page reads like a description of the UI (STYLE.md): it defines no function of its own,
draws charts only through ui.charts, and asks the registry for option choices rather than
importing them from a metric module."""

from __future__ import annotations

import ast
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "pages"

# What a page may still take from a metric module: plain values with no better home.
FROM_METRICS = {"metrics": {"registry"}, "metrics.overview": {"MONEY_KPIS"}, "metrics.retention": {"at_risk_windows"}}


def breaches(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            out.append(f"{where} defines {getattr(node, 'name', 'a lambda')}")
        elif isinstance(node, ast.Import):
            out += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in ("altair", "metrics")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("altair", "metrics"):
            allowed = FROM_METRICS.get(node.module, set())
            out += [f"{where} imports {a.name} from {node.module}" for a in node.names if a.name not in allowed]
    return out


def test_pages_define_nothing_and_draw_through_ui():
    assert [b for path in sorted(PAGES.glob("*.py")) for b in breaches(path)] == []


def test_a_breach_is_caught(tmp_path):
    """The check itself: a helper, an altair import and an option list from a metric module."""
    page = tmp_path / "page.py"
    page.write_text(
        "import altair as alt\n"
        "from metrics.revenue import BREAKDOWN_DIMENSIONS\n"
        "from metrics import registry\n"
        "def kpi_text(value):\n"
        "    return str(value)\n"
    )
    assert breaches(page) == [
        "page.py:1 imports altair",
        "page.py:2 imports BREAKDOWN_DIMENSIONS from metrics.revenue",
        "page.py:4 defines kpi_text",
    ]
