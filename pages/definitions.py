"""Definitions: what every figure counts, from the project's docs/metrics.md."""

import streamlit as st

from ui import docs, url

guide, sections = docs.definitions()
metric = url.get("metric", None, choices=sorted(sections), what="metric")
st.title("Definitions")
if metric:
    st.caption(f"One metric's definition, under the name `pulse export` gives it; [all definitions]({docs.PAGE}).")
    st.markdown(sections[metric].replace(f"### {metric}", f"## `{metric}`", 1))
else:
    st.caption("What every figure on these pages counts, as `pulse export` writes it.")
    st.markdown(guide.split("\n", 1)[1])
