"""The docs cannot drift from the code: docs/metrics.md has exactly one section per registered
metric, with its columns and options as the registry declares them, and the README and docs/
link only to files (and headings) that exist in the repository.

docs/metrics.md's format, which these tests read: a metric is a level-3 heading "### name",
a definition, then

    - Columns: `first`, `second`
    - Options: none

or, for a metric with options, "- Options:" followed by one line per option, in order:

      - `name` (its values, default X | required | no default) — what it does

where "its values" is what `pulse metrics` prints for the option.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from metrics.registry import Metric, Option, all_metrics

ROOT = Path(__file__).resolve().parent.parent
METRICS_DOC = ROOT / "docs" / "metrics.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

FENCED = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
COLUMNS_LINE = re.compile(r"- Columns: (`[^`]+`(?:, `[^`]+`)*)")
OPTION_LINE = re.compile(r"  - `(?P<name>[^`]+)` \((?P<facts>.*?)\) — \S.*")
INLINE_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)[^)]*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
# A document named in code rather than linked (as the README once named `../shared/DATA.md`)
# is still a reference a reader follows.
CODE_DOCUMENT = re.compile(r"`([^`\s]+\.md(?:#[^`\s]*)?)`")
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _outside_code(text: str) -> str:
    return FENCED.sub("", text)


def sections(text: str) -> list[tuple[str, list[str]]]:
    """Every level-3 section as (heading text, its lines up to the next heading of any level)."""
    found: list[tuple[str, list[str]]] = []
    lines: list[str] | None = None
    for line in _outside_code(text).splitlines():
        if line.startswith("#"):
            lines = None
            if line.startswith("### "):
                lines = []
                found.append((line[4:].strip(), lines))
        elif lines is not None:
            lines.append(line)
    return found


def option_facts(option: Option) -> str:
    """What the doc must say in parentheses after an option's name: its values and default."""
    return f"{option.describe()}, {option.default_text()}"


def section_problems(metric: Metric, lines: list[str]) -> list[str]:
    """How one metric's section disagrees with the metric's declaration."""
    name = metric.name
    columns = [i for i, line in enumerate(lines) if line.startswith("- Columns:")]
    options = [i for i, line in enumerate(lines) if line.startswith("- Options:")]
    if len(columns) != 1 or len(options) != 1:
        return [f"{name}: needs one '- Columns:' and one '- Options:' line, has {len(columns)} and {len(options)}"]
    out = []
    if not any(line.strip() for line in lines[: columns[0]]):
        out.append(f"{name}: has no definition before its columns")

    listed = COLUMNS_LINE.fullmatch(lines[columns[0]])
    documented = re.findall(r"`([^`]+)`", listed.group(1)) if listed else None
    if documented != list(metric.columns):
        out.append(f"{name}: columns are {list(metric.columns)}, the doc says {lines[columns[0]]!r}")

    header = lines[options[0]]
    bullets = []
    for line in lines[options[0] + 1:]:
        if not line.startswith("  - "):
            break
        bullets.append(line)
    if not metric.options:
        if header != "- Options: none" or bullets:
            out.append(f"{name}: has no options, the doc must say '- Options: none'")
        return out
    if header != "- Options:":
        out.append(f"{name}: has options, so its line is '- Options:' with one line per option below")
        return out
    parsed = [OPTION_LINE.fullmatch(line) for line in bullets]
    if not all(parsed):
        bad = bullets[parsed.index(None)]
        return [*out, f"{name}: option line {bad!r} is not '  - `name` (values, default) — what it does'"]
    names = [match["name"] for match in parsed]
    if names != [o.name for o in metric.options]:
        out.append(f"{name}: options are {[o.name for o in metric.options]}, the doc lists {names}")
    else:
        for option, match in zip(metric.options, parsed):
            if match["facts"] != option_facts(option):
                out.append(f"{name}: option {option.name} is ({option_facts(option)}), the doc says ({match['facts']})")
    return out


def problems(text: str, metrics: list[Metric]) -> list[str]:
    """Every way a metrics doc disagrees with the registry, one sentence each; none when it agrees."""
    registered = {m.name: m for m in metrics}
    found = sections(text)
    counts = Counter(name for name, _ in found)
    out = [f"{name}: {count} sections" for name, count in counts.items() if count > 1]
    out += [f"{name}: a section, but no registered metric has that name" for name in counts if name not in registered]
    out += [f"{name}: registered, but has no section" for name in registered if name not in counts]
    for name, lines in found:
        if name in registered and counts[name] == 1:
            out += section_problems(registered[name], lines)
    return out


def test_metrics_doc_matches_the_registry():
    found = problems(METRICS_DOC.read_text(), all_metrics())
    assert not found, "docs/metrics.md disagrees with the registry:\n" + "\n".join(found)


def _section(text: str, name: str) -> tuple[int, int]:
    match = re.search(rf"^### {re.escape(name)}\n.*?(?=^#|\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, name
    return match.span()


def _edit(text: str, name: str, old: str, new: str) -> str:
    """The text with `old` replaced by `new` inside the section of metric `name` only."""
    start, end = _section(text, name)
    section = text[start:end]
    assert old in section, (name, old)
    return text[:start] + section.replace(old, new, 1) + text[end:]


def _columns_line(columns) -> str:
    return "- Columns: " + ", ".join(f"`{c}`" for c in columns)


def _option_line(text: str, name: str, option: Option) -> str:
    start, end = _section(text, name)
    return next(line for line in text[start:end].splitlines() if line.startswith(f"  - `{option.name}` "))


# A metric with room for every kind of drift: several columns, several options, one with a default.
SAMPLE = next(m for m in all_metrics()
              if len(m.columns) >= 2 and len(m.options) >= 2 and any(o.default is not None for o in m.options))


def _added_column(text: str, m: Metric) -> str:
    return _edit(text, m.name, _columns_line(m.columns), _columns_line([*m.columns, "extra"]))


def _removed_column(text: str, m: Metric) -> str:
    return _edit(text, m.name, _columns_line(m.columns), _columns_line(m.columns[:-1]))


def _reordered_columns(text: str, m: Metric) -> str:
    swapped = [m.columns[1], m.columns[0], *m.columns[2:]]
    return _edit(text, m.name, _columns_line(m.columns), _columns_line(swapped))


def _removed_option(text: str, m: Metric) -> str:
    return _edit(text, m.name, _option_line(text, m.name, m.options[-1]) + "\n", "")


def _reordered_options(text: str, m: Metric) -> str:
    first, second = (_option_line(text, m.name, o) for o in m.options[:2])
    return _edit(text, m.name, f"{first}\n{second}\n", f"{second}\n{first}\n")


def _changed_default(text: str, m: Metric) -> str:
    option = next(o for o in m.options if o.default is not None)
    line = _option_line(text, m.name, option)
    return _edit(text, m.name, line, line.replace(f"default {option.show(option.default)})", "default other)"))


def _no_options_claimed(text: str, m: Metric) -> str:
    bullets = "".join(_option_line(text, m.name, o) + "\n" for o in m.options)
    return _edit(text, m.name, "- Options:\n" + bullets, "- Options: none\n")


def _duplicated_section(text: str, m: Metric) -> str:
    start, end = _section(text, m.name)
    return text + "\n" + text[start:end]


def _missing_section(text: str, m: Metric) -> str:
    start, end = _section(text, m.name)
    return text[:start] + text[end:]


def _unregistered_section(text: str, m: Metric) -> str:
    return text + "\n### not_a_metric\nCounts nothing.\n\n- Columns: `period`\n- Options: none\n"


@pytest.mark.parametrize("tamper", [
    _added_column, _removed_column, _reordered_columns, _removed_option, _reordered_options,
    _changed_default, _no_options_claimed, _duplicated_section, _missing_section, _unregistered_section,
], ids=lambda f: f.__name__.strip("_"))
def test_a_drifted_metrics_doc_fails(tamper):
    text = METRICS_DOC.read_text()
    tampered = tamper(text, SAMPLE)
    assert tampered != text
    found = problems(tampered, all_metrics())
    named = "not_a_metric" if tamper is _unregistered_section else SAMPLE.name
    assert found and all(p.startswith(f"{named}:") for p in found), found


def anchors(text: str) -> set[str]:
    """The fragment ids GitHub gives a document's headings (repeats get -1, -2, ...)."""
    seen: Counter[str] = Counter()
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", _outside_code(text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        out.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return out


def broken_links(doc: Path, text: str) -> list[str]:
    """Links (and documents named in code) that leave the repository or lead nowhere."""
    prose = INLINE_CODE.sub("", _outside_code(text))
    targets = INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose) + CODE_DOCUMENT.findall(_outside_code(text))
    out = ["names ../shared, which a clone of the repository does not have"] if "../shared" in text else []
    for target in targets:
        if SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.is_relative_to(ROOT):
            out.append(f"{target}: outside the repository")
        elif not resolved.exists():
            out.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            out.append(f"{target}: no such heading")
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_link_only_to_files_in_the_repository(doc):
    broken = broken_links(doc, doc.read_text())
    assert not broken, f"{doc.relative_to(ROOT)}:\n" + "\n".join(broken)


@pytest.mark.parametrize("line", [
    pytest.param("Described in `../shared/DATA.md`.", id="shared-named-in-code"),
    pytest.param("See [the contract](../shared/METRICS.md).", id="shared-linked"),
    pytest.param("See [nothing](missing.md).", id="missing-file"),
    pytest.param("See [nowhere](metrics.md#no-such-heading).", id="missing-heading"),
    pytest.param("See [the root's parent](../../README.md).", id="outside-the-repository"),
    pytest.param("[ref]: ./missing.md", id="missing-reference-link"),
])
def test_a_broken_link_fails(line):
    doc = ROOT / "docs" / "data.md"
    text = doc.read_text()
    assert len(broken_links(doc, f"{text}\n{line}\n")) > len(broken_links(doc, text))


def test_the_readme_prints_the_permission_table_the_app_enforces():
    from admin import roles

    assert roles.table() in (ROOT / "README.md").read_text()
