"""The Admin Email page's helpers: the admin database's email side, recipients from the store,
and campaigns sent in the background while the page shows their progress."""

from __future__ import annotations

import base64
import threading
from datetime import date

import polars as pl

import streamlit as st

from admin.email import STATUSES, Campaigns, Planned, Segments, Sender, Suppressions, Template, Templates, plan, unsubscribe_url
from metrics import recipients as segment
from ui import auth, cache
from ui import components as ui
from ui import format as fmt


def templates() -> Templates:
    return Templates(auth.access().accounts.db)


def segments() -> Segments:
    return Segments(auth.access().accounts.db)


def suppressions() -> Suppressions:
    return Suppressions(auth.access().accounts.db)


def campaigns() -> Campaigns:
    return Campaigns(auth.access().accounts.db)


def find(definition: dict[str, str], user_ids: list[str] | None = None) -> tuple[pl.DataFrame, list[str]]:
    """The segment's users within the signed-in staff member's data scope, and the ids the
    scope leaves out; as of the store's last day."""
    who = auth.staff()
    return segment.recipients(cache.store(), definition, cache.info().last_day or date.today(), who.countries,
                              who.plans, user_ids)


def pasted_ids(typed: str, uploaded: str) -> list[str]:
    """The user ids typed into the page and in an uploaded file (segment.user_ids)."""
    return segment.user_ids(typed, uploaded)


def planned(template: Template, found: pl.DataFrame, left_out: list[str], kind: str,
            preview: int | None = None) -> Planned:
    """plan() for the signed-in sender; with `preview`, only that many messages rendered."""
    settings, key = cache.settings(), auth.access().key
    return plan(template, found.to_dicts(), kind, suppressions().addresses(), left_out,
                unsubscribe=lambda address: unsubscribe_url(settings, key, address), preview=preview)


@st.cache_resource
def _running() -> dict[str, threading.Thread]:
    return {}


def send_in_background(campaign_id: str) -> None:
    """Start sending a campaign in a thread of the server (one per campaign); the outbox
    makes a second start, or a `pulse email resume` beside it, harmless."""
    running = _running()
    if campaign_id in running and running[campaign_id].is_alive():
        return
    sender = Sender(auth.access().accounts.db, cache.settings(), auth.access().key)
    thread = threading.Thread(target=sender.send, args=(campaign_id,), name=f"email-{campaign_id}", daemon=True)
    running[campaign_id] = thread
    thread.start()


def sending(campaign_id: str) -> bool:
    thread = _running().get(campaign_id)
    return thread is not None and thread.is_alive()


def send_now(campaign_id: str) -> dict[str, int]:
    """Send a small campaign (a test to oneself) while the page waits."""
    return Sender(auth.access().accounts.db, cache.settings(), auth.access().key, backoff=(), max_wait=0).send(campaign_id)


def preview(html: str, height: int = 420) -> None:
    """An HTML body as the recipient's mail program would show it, in a frame of its own
    origin (a data: URL), so nothing in it can reach the app."""
    st.iframe("data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode(), height=height)


def with_emails(timeline: pl.DataFrame | None, user_id: str, q, first_page: bool, last_page: bool) -> pl.DataFrame:
    """One page of a user's timeline (newest first) with the emails sent to them in the range
    that fall within the page's span: newer than its last row (any, on the first page) and
    no newer than its first (any, on the last page)."""
    sent = _emails_to(user_id).filter(pl.col("ts").dt.date().is_between(q.range_start, q.range_end))
    if timeline is None:
        return sent.sort("ts", descending=True)
    if not timeline.is_empty():
        if not first_page:
            sent = sent.filter(pl.col("ts") <= timeline["ts"].max())
        if not last_page:
            sent = sent.filter(pl.col("ts") > timeline["ts"].min())
    elif not (first_page and last_page):
        return timeline
    return pl.concat([timeline, sent.cast(timeline.schema)]).sort("ts", descending=True, maintain_order=True)


def _emails_to(user_id: str) -> pl.DataFrame:
    """The emails sent to a user, as rows of the User page's timeline (ts, type, detail, amount)."""
    sent = campaigns().sent_to(user_id)
    return sent.select(
        "ts", pl.lit("email").alias("type"),
        (pl.lit("Email: ") + pl.col("subject") + pl.lit(" (") + pl.col("kind") + pl.lit(")")).alias("detail"),
        pl.lit(None, dtype=pl.Decimal(18, 2)).alias("amount"))


def campaign_history(watched: str | None) -> None:
    """The History tab: the campaign being watched, every campaign with its counts, one
    campaign's recipients by status (with CSV), and resuming what is left; redrawn every
    2 s while the watched campaign sends."""
    (_history_while_sending if watched and sending(watched) else _history)(watched)


@st.fragment(run_every=2)
def _history_while_sending(watched: str) -> None:
    _history_body(watched)


@st.fragment
def _history(watched: str | None) -> None:
    _history_body(watched)


def _history_body(watched: str | None) -> None:
    if watched:
        counts = campaigns().counts(watched)
        state = "sending" if sending(watched) else "finished"
        st.info(f"Campaign {watched} ({state}): {counts['sent']:,} sent, {counts['failed']:,} failed, "
                f"{counts['queued'] + counts['sending']:,} to go, {counts['skipped']:,} skipped.",
                icon=":material/send:")
    every = campaigns().history()
    if every.is_empty():
        st.info("No campaigns yet.", icon=":material/info:")
        return
    ui.table(every.drop("sending"), "campaigns", key="email_campaigns", labels={"created_at_utc": "Created (UTC)"})
    names = {c: f"{c} · {t}" for c, t in zip(every["campaign"], every["template"])}
    picked = st.selectbox("Campaign", list(names), key="email_history_pick", format_func=names.get)
    status = st.segmented_control("Status", STATUSES, key="email_history_status", format_func=fmt.CODES["status"].get)
    ui.table(campaigns().recipients(picked, status), "campaign_recipients", key="email_recipients",
             file_name=f"campaign_{picked}", labels={"sent_at_utc": "Sent at (UTC)"})
    counts = campaigns().counts(picked)
    if (counts["queued"] or counts["failed"]) and not sending(picked):
        if st.button(f"Resume: send {counts['queued'] + counts['failed']:,} still queued or failed", key="email_resume"):
            campaigns().resume(picked, **auth.acting())
            send_in_background(picked)
            st.session_state["email_watch"] = picked
            ui.done(f"Resumed campaign {picked}.")
