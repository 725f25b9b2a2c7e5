"""Every cache of the web app, in one place.

Metric results are cached by (metric, query, store version): a published load changes the
version, so the next rerun recomputes and nobody sees stale figures. The store handle and
the settings are resources shared by all sessions.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics import registry
from metrics.overview import filter_choices as _filter_choices
from pulse.query import Query
from pulse.settings import Settings, load_settings
from pulse.store import Store, StoreInfo


@st.cache_resource
def settings() -> Settings:
    return load_settings()


@st.cache_resource
def store() -> Store:
    return Store.from_settings(settings())


@st.cache_data(ttl=3600, max_entries=1000, show_spinner=False)
def _run(name: str, q: Query, version: str) -> pl.DataFrame:
    return registry.run(name, store(), q)


def metric(name: str, q: Query, **options: object) -> pl.DataFrame:
    """The metric's frame for this query, with extra metric options (raw or typed)."""
    query = q.with_options(**{k: v for k, v in options.items() if v is not None}) if options else q
    return _run(name, query, store().version())


@st.cache_data(ttl=3600, max_entries=20, show_spinner=False)
def _info(version: str) -> StoreInfo:
    return store().info()


def info() -> StoreInfo:
    return _info(store().version())


@st.cache_data(ttl=3600, max_entries=20, show_spinner=False)
def _choices(version: str) -> dict[str, list[str]]:
    return _filter_choices(store())


def filter_choices() -> dict[str, list[str]]:
    """The country, device and plan values that exist in the store, for the filter bar."""
    return _choices(store().version())
