"""Staff: who may sign in, with which role, and which users they see (admins only)."""

import polars as pl
import streamlit as st

from admin.roles import ROLES
from admin.staff import MIN_PASSWORD
from ui import auth, cache
from ui import components as ui

st.title("Staff")
st.caption("Who may sign in to Pulse, with which role, and which users they see. A role decides the pages and "
           "actions (see the README's permission table); a scope limits every figure, table and download to users "
           "of those countries and plans. Every change here is in the audit log.")
ui.notice()

accounts = auth.staff_accounts()


roster = accounts.roster()
if roster.is_empty():
    st.info("There are no staff accounts yet; add the first below.", icon=":material/info:")
else:
    ui.table(roster, "staff", key="staff", labels={"locked_until_utc": "Locked until (UTC)",
                                                  "last_sign_in_utc": "Last sign-in (UTC)"})

choices = cache.filter_choices() if cache.store().exists() else {}
adding, changing = st.tabs(["Add a member of staff", "Change an account"])

with adding, st.form("staff_add", clear_on_submit=False, border=False):
    email = st.text_input("Email", placeholder="name@company.com")
    role = st.selectbox("Role", ROLES, index=ROLES.index("viewer"))
    with st.container(horizontal=True):
        countries = st.multiselect("Countries", choices.get("country", []), placeholder="All countries",
                                   accept_new_options=True)
        plans = st.multiselect("Plans", choices.get("plan", []), placeholder="All plans", accept_new_options=True)
    with st.container(horizontal=True):
        password = st.text_input("Password", type="password", help=f"At least {MIN_PASSWORD} characters.")
        again = st.text_input("The password again", type="password")
    if st.form_submit_button("Add", type="primary"):
        if password != again:
            ui.refused("The two passwords differ; type the same password twice.")
        else:
            ui.attempt(f"Added {email.strip().lower()} as {role}.", accounts.add, email, role, password,
                       countries=countries, plans=plans)

with changing:
    if roster.is_empty():
        st.caption("Add an account first.")
    else:
        picked = st.selectbox("Account", roster["email"].to_list(), key="staff_pick")
        member = roster.row(by_predicate=pl.col("email") == picked, named=True)
        with st.form(f"staff_role_{picked}", border=False):
            new_role = st.selectbox("Role", ROLES, index=ROLES.index(member["role"]))
            scoped = {name: [] if member[name] == "all" else member[name].split(", ") for name in ("countries", "plans")}
            with st.container(horizontal=True):
                new_countries = st.multiselect("Countries", sorted({*choices.get("country", []), *scoped["countries"]}),
                                               default=scoped["countries"], placeholder="All countries",
                                               accept_new_options=True)
                new_plans = st.multiselect("Plans", sorted({*choices.get("plan", []), *scoped["plans"]}),
                                           default=scoped["plans"], placeholder="All plans", accept_new_options=True)
            if st.form_submit_button("Save role and scope", type="primary"):
                ui.attempt(f"Saved the role and scope of {picked}.", accounts.update, picked, new_role, new_countries,
                           new_plans)
        with st.form(f"staff_password_{picked}", border=False):
            with st.container(horizontal=True):
                password = st.text_input("New password", type="password", help=f"At least {MIN_PASSWORD} characters; "
                                         "also lifts a lock.")
                again = st.text_input("The new password again", type="password")
            if st.form_submit_button("Set the password"):
                if password != again:
                    ui.refused("The two passwords differ; type the same password twice.")
                else:
                    ui.attempt(f"Set a new password for {picked}.", accounts.reset_password, picked, password)
        if member["disabled"]:
            if st.button("Enable this account", key="staff_enable"):
                ui.attempt(f"Enabled {picked}.", accounts.set_disabled, picked, False)
        elif st.button("Disable this account", key="staff_disable", help="Refuses its sign-ins and ends its sessions."):
            ui.attempt(f"Disabled {picked}; its sessions have ended.", accounts.set_disabled, picked, True)
