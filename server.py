"""Pulse's web server: the Streamlit app (app.py) with the sign-in routes and gate of
admin/web.py in front of it. `pulse run` starts it (`streamlit run server.py`)."""

import streamlit as st
from starlette.middleware import Middleware

from admin.web import Access, SignInGate, routes
from pulse.settings import load_settings

access = Access(load_settings())
app = st.App("app.py", routes=routes(access), middleware=[Middleware(SignInGate, access=access)])
