"""Who may see and do what: the four staff roles as one permission table.

A page a role may not open is left out of its navigation and refused if reached by URL;
an action it may not take is not offered. The README prints this table; a test walks
every (role, page) and (role, action) pair against it.
"""

from __future__ import annotations

ROLES = ("admin", "analyst", "billing", "viewer")

# Pages by the name of their file in pages/ (some arrive with later issues).
PAGES = ("overview", "activity", "retention", "purchases", "revenue", "user", "data", "explore", "views", "annotations",
         "exports", "sql", "admin_email", "staff", "audit")
ACTIONS = (
    "download_csv",     # a table's CSV download on a page
    "see_personal",     # emails and names unmasked
    "see_user_money",   # the user page's spending, subscriptions and payments
    "see_user_activity",  # the user page's events, sessions and hours
    "schedule_exports",
    "annotate",         # add, edit and delete the notes on dates that time charts mark
    "send_email",
    "manage_staff",
    "erase_user",
    "set_goals",        # add and delete the Overview's goals
)

_ANALYTICS = ("overview", "activity", "retention", "purchases", "revenue", "views", "annotations")

PERMISSIONS: dict[str, dict[str, frozenset[str]]] = {
    "admin": {"pages": frozenset(PAGES), "actions": frozenset(ACTIONS)},
    "analyst": {
        "pages": frozenset((*_ANALYTICS, "user", "data", "explore", "exports", "sql")),
        "actions": frozenset(("download_csv", "see_personal", "see_user_money", "see_user_activity", "schedule_exports",
                             "set_goals", "annotate")),
    },
    "billing": {
        "pages": frozenset(("overview", "purchases", "revenue", "user", "views", "annotations")),
        "actions": frozenset(("download_csv", "see_personal", "see_user_money")),
    },
    # Sees the analytics pages with emails and names masked; takes nothing out.
    "viewer": {"pages": frozenset(_ANALYTICS), "actions": frozenset()},
}


def may_open(role: str, page: str) -> bool:
    return page in PERMISSIONS[role]["pages"]


def may(role: str, action: str) -> bool:
    return action in PERMISSIONS[role]["actions"]


def table() -> str:
    """The permission table as Markdown, for the README."""
    header = "| | " + " | ".join(ROLES) + " |\n|---|" + "---|" * len(ROLES) + "\n"
    rows = [f"| page `{page}` | " + " | ".join("yes" if may_open(r, page) else "–" for r in ROLES) + " |" for page in PAGES]
    rows += [f"| `{action}` | " + " | ".join("yes" if may(r, action) else "–" for r in ROLES) + " |" for action in ACTIONS]
    return header + "\n".join(rows) + "\n"
