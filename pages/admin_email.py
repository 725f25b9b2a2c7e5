"""Email: from a segment to the inbox — recipients, templates with a live preview, a test to
oneself, sending, history, and the suppression list (admins only)."""

from datetime import date

import streamlit as st

from admin.email import KINDS, EmailError, Template, describe, new_campaign_id, render, to_self
from pulse.query import QueryError
from ui import auth, cache, mail
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query

ANY = "Any"
LIFECYCLE = ("new", "returning", "resurrecting", "dormant")
SAMPLE = 10
PREVIEWED = 50  # recipients whose message the preview renders; the send renders every one
HANDED = "email_users"  # user ids handed over by a drill-down list or the User page
NEW = "New template"
PERIODS = {"week": "Week", "day": "Day", "month": "Month"}


st.title("Email")
st.caption("Reach users from where you look at them. Marketing email goes only to users who opted in and did not "
           "unsubscribe; transactional email goes to every user with an address, with a reason on record. Every "
           "send is in the audit log.")
ui.notice()
q = current_query()
compose, editing, history, suppressed = st.tabs(["Compose", "Templates", "History", "Suppression list"])

# -- compose ----------------------------------------------------------------------------------------
with compose:
    st.subheader("Recipients")
    sources = ["Filters", "Saved segment", "User ids"]
    handed = st.session_state.get(HANDED)
    source = st.segmented_control("Who", sources, default="User ids" if handed else "Filters", key="email_source") or "Filters"
    definition: dict[str, str] = {}
    ids: list[str] | None = None
    if source == "Filters":
        choices = cache.filter_choices()
        features = cache.metric("feature_usage", q)["feature"].to_list() if not q.scope else []
        with st.container(horizontal=True):
            for name, label in (("plan", "Plan"), ("country", "Country"), ("device_type", "Device")):
                value = st.selectbox(label, [ANY, *choices.get(name, [])], key=f"seg_{name}")
                if value != ANY:
                    definition[name] = value
            lifecycle = st.selectbox("Lifecycle in the last period", [ANY, *LIFECYCLE], key="seg_lifecycle")
            interval = st.selectbox("Period", list(PERIODS), key="seg_interval",
                                    format_func=PERIODS.get)
        if lifecycle != ANY:
            definition |= {"lifecycle": lifecycle, "interval": interval}
        with st.container(horizontal=True):
            for name, label in (("last_seen_after", "Last seen after"), ("last_seen_before", "Last seen before"),
                                ("signed_up_after", "Signed up after"), ("signed_up_before", "Signed up before")):
                picked = st.date_input(label, value=None, key=f"seg_{name}", min_value=date(1970, 1, 1))
                if picked:
                    definition[name] = picked.isoformat()
        with st.container(horizontal=True, vertical_alignment="bottom"):
            spent = st.number_input("Total spent at least", min_value=0.0, value=None, step=10.0, key="seg_min_spent")
            if spent:
                definition["min_spent"] = f"{spent:.2f}"
            used = st.selectbox("Has used the feature", features, index=None, accept_new_options=True,
                                placeholder="Any", key="seg_used")
            unused = st.selectbox("Has not used the feature", features, index=None, accept_new_options=True,
                                  placeholder="Any", key="seg_unused")
            if used:
                definition["used_feature"] = used
            if unused:
                definition["not_used_feature"] = unused
            if st.checkbox("At risk of churning", key="seg_at_risk",
                           help="Active on fewer than half as many days in the last 14 days as in the 14 before."):
                definition["at_risk"] = "true"
    elif source == "Saved segment":
        names = mail.segments().names()
        if not names:
            st.info("No saved segments yet: build one with Filters and save it.", icon=":material/info:")
            st.stop()
        chosen_segment = st.selectbox("Segment", names, key="email_segment")
        definition = mail.segments().get(chosen_segment)
        st.caption(f"{fmt.text(chosen_segment)}: {fmt.text(describe(definition))}")
    else:
        pasted = st.text_area("User ids, one per line or separated by commas", value="\n".join(handed or []),
                              key="email_ids_text", height=120)
        upload = st.file_uploader("…or a CSV or text file whose first column is user_id", type=["csv", "txt"],
                                  key="email_ids_file")
        ids = mail.pasted_ids(pasted, upload.getvalue().decode("utf-8", errors="replace") if upload else "")
        if not ids:
            st.info("Paste or upload user ids to email them.", icon=":material/info:")
            st.stop()

    try:
        found, left_out = mail.find(definition, ids)
    except QueryError as exc:
        ui.refused(exc)
        st.stop()
    words = describe(definition) if ids is None else f"{len(ids):,} user ids"
    if source == "Filters":
        with st.popover("Save this segment", icon=":material/bookmark_add:"):
            name = st.text_input("Name", key="seg_save_name")
            if st.button("Save", key="seg_save", type="primary"):
                ui.attempt(f"Saved the segment {name.strip()}.", mail.segments().save, name, definition)

    st.subheader("Message")
    names = mail.templates().names()
    if not names:
        st.info("There are no templates yet: write one in the Templates tab.", icon=":material/info:")
        st.stop()
    with st.container(horizontal=True):
        template_name = st.selectbox("Template", names, key="email_template")
        kind = st.segmented_control("Kind", KINDS, default="marketing", key="email_kind",
                                    format_func=str.capitalize) or "marketing"
    reason = ""
    if kind == "transactional":
        reason = st.text_input("Why this may go to users without marketing consent", key="email_reason",
                               placeholder="e.g. a change to our terms of service")
    template = mail.templates().get(template_name)
    try:
        planned = mail.planned(template, found, left_out, kind, preview=PREVIEWED)
    except EmailError as exc:
        ui.refused(exc)
        st.stop()

    skipped = planned.counts()
    ui.figure_cards({"to_send": len(planned.queued), "skipped": len(planned.skipped)},
                    {"to_send": "Will receive it", "skipped": "Skipped"})
    if skipped:
        st.caption("Skipped: " + fmt.text("; ".join(f"{n:,} {why}" for why, n in skipped.items())) + ".")
    if planned.queued:
        sample = found.filter(found["user_id"].is_in([f["user_id"] for f, _ in planned.queued[:SAMPLE]]))
        ui.table(sample.select("user_id", "email", "name", "plan", "country", "last_seen", "total_spent"),
                 "segment_users", key="email_sample", money_columns=("total_spent",), labels={"name": "Name"})
        st.caption(f"The first {min(SAMPLE, len(planned.queued))} of {len(planned.queued):,} recipients.")

        st.subheader("Preview")
        by_id = {f["user_id"]: (f, r) for f, r in planned.queued[:PREVIEWED]}
        shown_as = {u: f"{f.get('name') or u} · {f['email']}" for u, (f, _) in by_id.items()}
        shown_for = st.selectbox("As received by", list(by_id), key="email_preview_user", format_func=shown_as.get)
        fields, rendered = by_id[shown_for]
        st.markdown(f"**Subject:** {fmt.text(rendered.subject)}")
        plain, html = st.tabs(["Plain text", "HTML"])
        plain.code(rendered.text, language=None, wrap_lines=True)
        with html:
            if rendered.html.strip():
                mail.preview(rendered.html)
            else:
                st.caption("This template has no HTML body: mail programs show the plain text.")

        me = auth.staff().email
        with st.container(horizontal=True, vertical_alignment="center"):
            if st.button("Send a test to me", icon=":material/outgoing_mail:", key="email_test",
                         disabled="@" not in me, help=None if "@" in me else "Sign in with an email account to test."):
                test_id = new_campaign_id()
                try:
                    mail.campaigns().create(test_id, template, to_self(template, fields, me), "test", "",
                                            f"test send of {template.name} as user {shown_for}",
                                            cache.settings().smtp_sender, **auth.acting())
                    counts = mail.send_now(test_id)
                except EmailError as exc:
                    ui.refused(exc)
                else:
                    if counts["sent"]:
                        st.success(f"Sent a test to {fmt.text(me)}.", icon=":material/check_circle:")
                    else:
                        reason_failed = mail.campaigns().recipients(test_id)["reason"][0]
                        st.error(f"The test did not go out: {fmt.text(reason_failed)}", icon=":material/error:")
            sure = st.checkbox(f"I checked the preview; send to {len(planned.queued):,} recipients", key="email_sure")
            # One id per composed message: a double click or a rerun finds the campaign made already.
            compose_id = st.session_state.setdefault("email_compose_id", new_campaign_id())
            if st.button(f"Send to {len(planned.queued):,}", type="primary", icon=":material/send:",
                         disabled=not sure, key="email_send"):
                try:
                    with st.spinner(f"Writing {len(planned.queued):,} messages to the outbox…"):
                        whole = mail.planned(template, found, left_out, kind)
                        created = mail.campaigns().create(compose_id, template, whole, kind, reason, words,
                                                          cache.settings().smtp_sender, **auth.acting())
                except EmailError as exc:
                    ui.refused(exc)
                else:
                    mail.send_in_background(compose_id)
                    st.session_state["email_watch"] = st.session_state["email_history_pick"] = compose_id
                    st.session_state["email_compose_id"] = new_campaign_id()
                    st.session_state.pop(HANDED, None)
                    ui.done(f"Campaign {compose_id} {'is sending' if created else 'was sent already'}: see History.")

# -- templates --------------------------------------------------------------------------------------
with editing:
    names = mail.templates().names()
    current = st.selectbox("Template", [NEW, *names], key="tpl_pick")
    original = Template("", "", "", "") if current == NEW else mail.templates().get(current)
    with st.form(f"tpl_form_{current}", border=False):
        name = st.text_input("Name", value=original.name)
        subject = st.text_input("Subject", value=original.subject, placeholder="Hi {{ first_name }}, …")
        left, right = st.columns(2)
        text_body = left.text_area("Plain-text body (empty: made from the HTML)", value=original.text_body, height=260)
        html_body = right.text_area("HTML body (optional)", value=original.html_body, height=260)
        st.caption("Variables: " + fmt.text(", ".join(f"{{{{ {v} }}}}" for v in (
            "name", "first_name", "email", "plan", "country", "signup_date", "last_seen", "total_spent", "mrr",
            "timezone", "auth_provider", "user_id", "unsubscribe_url"))) + ". A variable a recipient lacks stops the "
                   "send; `{{ name | default('there') }}` gives a default.")
        saved = st.form_submit_button("Save", type="primary")
    if saved:
        ui.attempt(f"Saved the template {name.strip()}.", mail.templates().save,
                   Template(name, subject, text_body, html_body), replacing=None if current == NEW else current)
    if current != NEW:
        with st.container(horizontal=True):
            with st.popover("Duplicate", icon=":material/content_copy:"):
                copy_name = st.text_input("Name of the copy", value=f"{current} (copy)", key="tpl_copy_name")
                if st.button("Duplicate", key="tpl_copy"):
                    ui.attempt(f"Made {copy_name.strip()} from {current}.", mail.templates().duplicate, current, copy_name)
            with st.popover("Delete", icon=":material/delete:"):
                st.write(f"Delete {fmt.text(current)}? Campaigns sent with it keep their copy.")
                if st.button("Delete", key="tpl_delete", type="primary"):
                    st.session_state.pop("tpl_pick", None)
                    ui.attempt(f"Deleted the template {current}.", mail.templates().delete, current)
        st.subheader("Live preview")
        who = st.text_input("For user id", key="tpl_preview_user", placeholder="A user id, e.g. from the User page")
        if who.strip():
            try:
                person, _ = mail.find({}, [who.strip()])
                if person.is_empty():
                    st.warning(f"There is no user {fmt.text(who.strip())} within your data scope.",
                               icon=":material/person_off:")
                else:
                    shown = render(Template(name, subject, text_body, html_body), person.row(0, named=True),
                                   {"unsubscribe_url": "(their unsubscribe link)"})
                    st.markdown(f"**Subject:** {fmt.text(shown.subject)}")
                    st.code(shown.text, language=None, wrap_lines=True)
                    if shown.html.strip():
                        mail.preview(shown.html, height=320)
            except (EmailError, QueryError) as exc:
                ui.refused(exc)

# -- history ----------------------------------------------------------------------------------------
with history:
    mail.campaign_history(st.session_state.get("email_watch"))

# -- suppression list --------------------------------------------------------------------------------
with suppressed:
    st.caption("Addresses that get no marketing email: users who unsubscribed by the link in an email, and those "
               "added here.")
    with st.form("suppress_add", border=False, clear_on_submit=True):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            address = st.text_input("Email address")
            why = st.text_input("Reason", value="asked not to get marketing mail")
            add = st.form_submit_button("Add")
    if add:
        ui.attempt(f"{address.strip().lower()} is on the suppression list.", mail.suppressions().add, address, why)
    listing = mail.suppressions().listing()
    if listing.is_empty():
        st.info("Nobody is on the suppression list.", icon=":material/info:")
    else:
        ui.table(listing, "suppressions", key="email_suppressions", labels={"added_at_utc": "Added (UTC)"})
        gone = st.selectbox("Take an address off the list", listing["email"].to_list(), index=None, key="unsuppress")
        if gone and st.button("Remove", key="unsuppress_go"):
            ui.attempt(f"{gone} may get marketing email again.", mail.suppressions().remove, gone)
