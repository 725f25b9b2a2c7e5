"""The users a segment reaches, as a sender sees them: segment_users for a saved or typed
definition, with who its data scope leaves out.

A definition is the segment_users options and filters as text (what `--where` and the Admin
Email page build, and what a saved segment keeps), plus `interval` (day, week or month: the
period whose lifecycle state counts). It is evaluated as of `end`.
"""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from metrics import registry
from pulse.query import QueryError, make_query

INTERVALS = ("day", "week", "month")


def parse_where(text: str) -> dict[str, str]:
    """`plan=pro,country=DE` as a definition; one sentence for a pair that is not KEY=VALUE."""
    out = {}
    for pair in (part.strip() for part in text.split(",")):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise QueryError(f"{pair!r} is not KEY=VALUE; write e.g. --where plan=pro,country=DE.")
        out[key.strip()] = value.strip()
    return out


def user_ids(typed: str = "", listed: str = "") -> list[str]:
    """User ids, each once in order: `typed` separated by spaces, commas or semicolons, and
    the first column of each line of `listed` (a CSV or text file); a `user_id` header is skipped."""
    words = re.split(r"[\s,;]+", typed)
    firsts = [line.split(",")[0].strip().strip('"') for line in listed.splitlines()]
    return list(dict.fromkeys(i for i in words + firsts if i and i != "user_id"))


def recipients(store, definition: dict[str, str], end: date, countries: tuple[str, ...] = (),
               plans: tuple[str, ...] = (), user_ids: list[str] | None = None) -> tuple[pl.DataFrame, list[str]]:
    """(segment_users within the sender's data scope, the ids of users the scope leaves out)."""
    options = dict(definition)
    interval = options.pop("interval", "week")
    if interval not in INTERVALS:
        raise QueryError(f"interval={interval!r} is not day, week or month.")
    if user_ids is not None:
        if not user_ids:
            raise QueryError("The list of user ids is empty.")
        options["user_ids"] = tuple(user_ids)  # typed already: an id may hold a comma
    metric = registry.get("segment_users")
    q = make_query(end, end, interval, options)
    everyone = metric.func(store, q)
    if not countries and not plans:
        return everyone, []
    mine = metric.func(store, q.scoped(countries, plans))
    return mine, sorted(set(everyone["user_id"].to_list()) - set(mine["user_id"].to_list()))
