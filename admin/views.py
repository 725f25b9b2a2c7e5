"""Saved views: any page with its filters and choices — an Explore question included — kept
by name, private to its owner or shared with all staff.

A view is the page and its URL parameters: opening one (`?view=ID`) puts them back, so it
shows what the link would. Saves and deletions are audited; opening one records when.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import polars as pl
from sqlalchemy import or_, select

from admin.db import AdminDB, utc_text
from admin.models import AuditEntry, SavedView


class ViewError(Exception):
    """One sentence about a view the user can act on."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Views:
    def __init__(self, db: AdminDB):
        self.db = db

    def save(self, name: str, description: str, page: str, state: dict[str, str], shared: bool, by: str,
             address: str = "") -> int:
        """A new view of `page` with its URL parameters; its id."""
        name = name.strip()
        if not name:
            raise ViewError("Give the view a name.")
        with self.db.session() as session:
            view = SavedView(name=name, description=description.strip(), owner=by, shared=shared, page=page,
                             state=json.dumps(state, sort_keys=True))
            session.add(view)
            session.flush()
            session.add(AuditEntry(actor=by, action="view.save",
                                   detail=f"{view.id} {name} ({page or 'overview'}, {'shared' if shared else 'private'})",
                                   address=address))
            return view.id

    def visible_to(self, who: str, search: str = "") -> pl.DataFrame:
        """The views `who` may open (theirs and the shared ones), newest opened first."""
        query = select(SavedView).where(or_(SavedView.owner == who, SavedView.shared.is_(True)))
        if search.strip():
            pattern = f"%{search.strip().lower()}%"
            query = query.where(or_(SavedView.name.ilike(pattern), SavedView.description.ilike(pattern)))
        with self.db.session() as session:
            rows = [(v.id, v.name, v.description, v.page or "overview", v.owner, "shared" if v.shared else "private",
                     utc_text(v.last_opened_at), utc_text(v.created_at)) for v in session.scalars(query)]
        frame = pl.DataFrame(rows, schema=[("view", pl.Int64), ("name", pl.String), ("description", pl.String),
                                           ("page", pl.String), ("owner", pl.String), ("shared", pl.String),
                                           ("last_opened_utc", pl.String), ("created_utc", pl.String)], orient="row")
        return frame.sort(["last_opened_utc", "created_utc"], descending=True)

    def open(self, view_id: int, who: str) -> tuple[str, dict[str, str]]:
        """(page, URL parameters) of a view `who` may see; records that it was opened."""
        with self.db.session() as session:
            view = session.get(SavedView, view_id)
            if view is None or not (view.shared or view.owner == who):
                raise ViewError(f"There is no view {view_id} you may open; the Views page lists yours and the shared ones.")
            view.last_opened_at = _now()
            return view.page, json.loads(view.state)

    def by_name(self, name: str) -> tuple[str, dict[str, str]]:
        """(page, URL parameters) of the view called `name` (the command line's, which sees all)."""
        with self.db.session() as session:
            views = session.scalars(select(SavedView).where(SavedView.name == name)).all()
            if not views:
                raise ViewError(f"There is no saved view {name!r}.")
            if len(views) > 1:
                raise ViewError(f"{len(views)} views are called {name!r}; rename one on the Views page.")
            return views[0].page, json.loads(views[0].state)

    def delete(self, view_id: int, who: str, may_delete_any: bool = False, address: str = "") -> None:
        self.db.delete_owned(SavedView, view_id, who, may_delete_any, "view.delete",
                             ViewError("Only its owner (or an admin) may delete a view."), address)
