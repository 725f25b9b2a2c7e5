"""The project's own metric definitions (docs/metrics.md), for the Definitions page and the
"Definition" link under every chart."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

DEFINITIONS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
PAGE = "definitions"  # the Definitions page's url_path


@cache
def definitions() -> tuple[str, dict[str, str]]:
    """The whole guide (without its maintainers' comment) and each metric's section by name."""
    text = re.sub(r"<!--.*?-->\n*", "", DEFINITIONS.read_text(encoding="utf-8"), flags=re.S)
    # Links between the docs files become plain references; links within it go to the page.
    text = re.sub(r"\[([^]]+)\]\(data\.md[^)]*\)", "docs/data.md", text)
    text = re.sub(r"\]\(#", f"]({PAGE}#", text)
    sections = {m.group(1): m.group(0).strip()
                for m in re.finditer(r"^### (\w+)\n.*?(?=^#{1,3} |\Z)", text, flags=re.M | re.S)}
    return text, sections


def link(metric_name: str) -> str:
    """A markdown link to one metric's definition; Streamlit opens it in a new tab."""
    return f"[Definition]({PAGE}?metric={metric_name})"
