"""`pulse email`: templates, segments, the suppression list, sending a campaign and its status.

The command line has no data scope: whoever runs it on the server may reach every user.
`--by` (default $USER) names them in the audit log and the campaign history.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from rich.table import Table

from cli.main import CLI, Failure, _admin_db, _by, _cell, _settings, _store, admin_errors, err, main, out, user_errors

SAMPLE = 5


def _read(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure(f"Cannot read {path}: {exc.__class__.__name__}.") from None


@main.group()
def email() -> None:
    """Email users: templates, segments, sending and its history."""


@email.group()
def template() -> None:
    """Email templates (Jinja2: {{ name }}, {{ plan }}, {{ total_spent }}, …)."""


@template.command("list")
def template_list() -> None:
    """List the templates."""
    from admin.email import Templates

    with admin_errors():
        listing = Templates(_admin_db()).listing()
    if listing.is_empty():
        out.print("There are no email templates yet: add one with `pulse email template add NAME --subject TEXT "
                  "--text FILE`.", markup=False)
        return
    grid = Table("name", "subject", "html", "updated by", "updated (UTC)")
    for row in listing.iter_rows():
        grid.add_row(*(_cell(v) for v in row))
    out.print(grid)


@template.command("show")
@click.argument("name")
def template_show(name: str) -> None:
    """Print a template's subject and bodies."""
    from admin.email import Templates

    with admin_errors():
        found = Templates(_admin_db()).get(name)
    click.echo(f"Subject: {found.subject}\n\n--- plain text ---\n{found.text_body or '(made from the HTML body)'}")
    if found.html_body:
        click.echo(f"\n--- HTML ---\n{found.html_body}")


_subject = click.option("--subject", help="The subject line (a template too).")
_text = click.option("--text", "text_path", type=click.Path(path_type=Path), help="File with the plain-text body.")
_html = click.option("--html", "html_path", type=click.Path(path_type=Path), help="File with the HTML body.")


@template.command("add")
@click.argument("name")
@click.option("--subject", required=True, help="The subject line (a template too).")
@_text
@_html
@_by
def template_add(name: str, subject: str, text_path: Path | None, html_path: Path | None, actor: str) -> None:
    """Add template NAME (a plain-text body, an HTML body, or both)."""
    from admin.email import Template, Templates

    if text_path is None and html_path is None:
        raise Failure("Give the body: --text FILE, --html FILE, or both.", 2)
    with admin_errors():
        Templates(_admin_db()).save(Template(name, subject, _read(text_path), _read(html_path)), by=actor, address=CLI)
    out.print(f"Added the template {name.strip()}.", markup=False)


@template.command("edit")
@click.argument("name")
@click.option("--rename", help="A new name.")
@_subject
@_text
@_html
@_by
def template_edit(name: str, rename: str | None, subject: str | None, text_path: Path | None, html_path: Path | None,
                  actor: str) -> None:
    """Change template NAME: what is given replaces what was there."""
    from admin.email import Template, Templates

    with admin_errors():
        templates = Templates(_admin_db())
        old = templates.get(name)
        new = Template(rename or old.name, subject if subject is not None else old.subject,
                       _read(text_path) if text_path else old.text_body, _read(html_path) if html_path else old.html_body)
        templates.save(new, by=actor, address=CLI, replacing=name)
    out.print(f"Saved the template {new.name}.", markup=False)


@template.command("delete")
@click.argument("name")
@_by
def template_delete(name: str, actor: str) -> None:
    """Delete template NAME (campaigns sent with it keep their copy)."""
    from admin.email import Templates

    with admin_errors():
        Templates(_admin_db()).delete(name, by=actor, address=CLI)
    out.print(f"Deleted the template {name}.", markup=False)


@email.group()
def segment() -> None:
    """Saved segments: recipients by name."""


@segment.command("list")
def segment_list() -> None:
    """List the saved segments."""
    from admin.email import Segments, describe

    with admin_errors():
        segments = Segments(_admin_db())
        rows = [(name, describe(segments.get(name))) for name in segments.names()]
    if not rows:
        out.print("There are no saved segments yet: `pulse email segment add NAME --where plan=pro`.", markup=False)
        return
    grid = Table("name", "who")
    for row in rows:
        grid.add_row(*(_cell(v) for v in row))
    out.print(grid)


@segment.command("add")
@click.argument("name")
@click.option("--where", "where", required=True, help="KEY=VALUE pairs, comma-separated (see `pulse email send`).")
@_by
def segment_add(name: str, where: str, actor: str) -> None:
    """Save (or replace) segment NAME."""
    from admin.email import Segments
    from metrics.recipients import parse_where, recipients

    with user_errors():
        definition = parse_where(where)
        store = _store()
        store.require()
        found, _ = recipients(store, definition, date.today())  # checks the definition
    with admin_errors():
        Segments(_admin_db()).save(name, definition, by=actor, address=CLI)
    out.print(f"Saved the segment {name.strip()}: {found.height:,} users today.", markup=False)


@segment.command("delete")
@click.argument("name")
@_by
def segment_delete(name: str, actor: str) -> None:
    """Delete segment NAME."""
    from admin.email import Segments

    with admin_errors():
        Segments(_admin_db()).delete(name, by=actor, address=CLI)
    out.print(f"Deleted the segment {name}.", markup=False)


def _user_ids(path: Path) -> list[str]:
    """One user id per line (a CSV's first column; a header `user_id` is skipped)."""
    from metrics.recipients import user_ids

    ids = user_ids(listed=_read(path))
    if not ids:
        raise Failure(f"{path} holds no user ids (one per line, or a CSV whose first column is user_id).")
    return ids


def _sender(db):
    from admin.email import Sender
    from admin.web import secret_key

    return Sender(db, _settings(), secret_key(_settings()))


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {status}" for status, n in counts.items() if n or status in ("sent", "failed"))


def _deliver(db, campaign_id: str) -> dict[str, int]:
    from admin.email import Campaigns

    total = sum(Campaigns(db).counts(campaign_id)[s] for s in ("queued", "failed", "sending"))

    def progress(counts: dict[str, int]) -> None:
        if err.is_terminal:
            err.print(f"\r{counts['sent']:,} sent, {counts['failed']:,} failed of {total:,}", end="")

    with admin_errors():
        counts = _sender(db).send(campaign_id, progress=progress)
    if err.is_terminal:
        err.print()
    return counts


def _finish(campaign_id: str, counts: dict[str, int]) -> None:
    out.print(f"Campaign {campaign_id}: {_counts_line(counts)}.", markup=False)
    if counts["failed"]:
        raise Failure(f"{counts['failed']:,} recipients failed; `pulse email status {campaign_id}` lists why, "
                      f"`pulse email resume {campaign_id}` tries them again.")


@email.command("send")
@click.option("--template", "template_name", required=True, help="The template to send.")
@click.option("--segment", "segment_name", help="A saved segment.")
@click.option("--where", help="Recipients by KEY=VALUE, comma-separated: country, plan, device_type, lifecycle "
                              "(new|returning|resurrecting|dormant), last_seen_before/after, signed_up_before/after "
                              "(YYYY-MM-DD), min_spent, at_risk=true, used_feature / not_used_feature, interval.")
@click.option("--users", "users_path", type=click.Path(path_type=Path), help="A file of user ids, one per line.")
@click.option("--marketing", "kind", flag_value="marketing", help="Marketing: only users who opted in and did not unsubscribe.")
@click.option("--transactional", "kind", flag_value="transactional", help="Transactional: every user with an address; "
                                                                          "needs --reason.")
@click.option("--reason", default="", help="Why a transactional email may go to users without marketing consent.")
@click.option("--dry-run", is_flag=True, help="Show who would get it and who is skipped; send nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_by
def email_send(template_name: str, segment_name: str | None, where: str | None, users_path: Path | None,
               kind: str | None, reason: str, dry_run: bool, yes: bool, actor: str) -> None:
    """Send a template to a segment, a --where or a list of users, as one campaign."""
    from admin.email import Campaigns, Segments, Suppressions, Templates, describe, new_campaign_id, plan, unsubscribe_url
    from admin.web import secret_key
    from metrics.recipients import parse_where, recipients

    if sum(x is not None for x in (segment_name, where, users_path)) != 1:
        raise Failure("Say who gets it: one of --segment NAME, --where KEY=VALUE,… or --users FILE.", 2)
    if kind is None:
        raise Failure("Say what kind of email this is: --marketing, or --transactional --reason TEXT.", 2)
    if kind == "transactional" and not reason.strip():
        raise Failure("A transactional email goes to users without marketing consent; say why with --reason.", 2)
    with admin_errors():
        db = _admin_db()
        chosen = Templates(db).get(template_name)
        definition = Segments(db).get(segment_name) if segment_name else {}
        suppressed = Suppressions(db).addresses()
    ids = _user_ids(users_path) if users_path else None
    with user_errors():
        if where:
            definition = parse_where(where)
        store = _store()
        store.require()
        found, _ = recipients(store, definition, date.today(), user_ids=ids)
    words = (f"segment {segment_name} ({describe(definition)})" if segment_name else
             f"{len(ids):,} user ids from {users_path.name}" if ids else describe(definition))
    settings, key = _settings(), secret_key(_settings())
    with admin_errors():
        planned = plan(chosen, found.to_dicts(), kind, suppressed,
                       unsubscribe=lambda address: unsubscribe_url(settings, key, address),
                       preview=SAMPLE if dry_run else None)
    skipped = "; ".join(f"{n:,} {why}" for why, n in planned.counts().items())
    out.print(f"{len(planned.queued):,} recipients for {template_name} ({kind}) — {words}"
              + (f"; skipped: {skipped}" if skipped else "") + ".", markup=False)
    for fields, rendered in planned.queued[:SAMPLE]:
        out.print(f"  {fields['user_id']} <{fields['email']}>: {rendered.subject}", markup=False)
    if dry_run:
        out.print("Dry run: nothing was sent.")
        return
    if not planned.queued:
        raise Failure("Nobody to send to; nothing was sent.")
    if not yes and not click.confirm(f"Send to {len(planned.queued):,} recipients?", err=True):
        raise Failure("Nothing was sent.")
    campaign_id = new_campaign_id()
    with admin_errors():
        Campaigns(db).create(campaign_id, chosen, planned, kind, reason, words, settings.smtp_sender, by=actor,
                             address=CLI)
    _finish(campaign_id, _deliver(db, campaign_id))


@email.command("status")
@click.argument("campaign_id", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
def email_status(campaign_id: str | None, limit: int) -> None:
    """A campaign's counts and its failed recipients; without CAMPAIGN, the latest campaigns."""
    from admin.email import Campaigns

    with admin_errors():
        campaigns = Campaigns(_admin_db())
        if campaign_id is None:
            history = campaigns.history(limit)
        else:
            counts = campaigns.counts(campaign_id)
            failed = campaigns.recipients(campaign_id, "failed")
    if campaign_id is None:
        if history.is_empty():
            out.print("No campaigns yet.")
            return
        grid = Table("campaign", "created (UTC)", "by", "template", "kind", "recipients", "queued", "sent", "failed",
                     "skipped")
        for row in history.drop("sending").iter_rows():
            grid.add_row(*(_cell(v) for v in row))
        out.print(grid)
        return
    out.print(f"Campaign {campaign_id}: {_counts_line(counts)}.", markup=False)
    if not failed.is_empty():
        grid = Table("user", "email", "reason", "attempts")
        for row in failed.select("user_id", "email", "reason", "attempts").head(limit).iter_rows():
            grid.add_row(*(_cell(v) for v in row))
        out.print(grid)
    if counts["failed"]:
        raise SystemExit(1)


@email.command("resume")
@click.argument("campaign_id")
@_by
def email_resume(campaign_id: str, actor: str) -> None:
    """Send what a campaign still has queued, and try its passing failures again."""
    from admin.email import Campaigns

    with admin_errors():
        db = _admin_db()
        again = Campaigns(db).resume(campaign_id, by=actor, address=CLI)
    if again:
        err.print(f"Trying {again:,} failed recipients again.")
    _finish(campaign_id, _deliver(db, campaign_id))


@email.command("suppress")
@click.argument("address")
@click.option("--reason", default="asked not to get marketing mail", show_default=True)
@_by
def email_suppress(address: str, reason: str, actor: str) -> None:
    """Never send marketing mail to ADDRESS again."""
    from admin.email import Suppressions

    with admin_errors():
        added = Suppressions(_admin_db()).add(address, reason, by=actor, address=CLI)
    out.print(f"{address.strip().lower()} {'is now' if added else 'was already'} on the suppression list.", markup=False)


@email.command("unsuppress")
@click.argument("address")
@_by
def email_unsuppress(address: str, actor: str) -> None:
    """Take ADDRESS off the suppression list."""
    from admin.email import Suppressions

    with admin_errors():
        Suppressions(_admin_db()).remove(address, by=actor, address=CLI)
    out.print(f"{address.strip().lower()} may get marketing mail again.", markup=False)

