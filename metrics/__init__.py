"""Metric functions `(store, query) -> polars.DataFrame`, registered by name in metrics.registry.

Importing the package imports every metric module so the registry is complete.
"""

from metrics import (  # noqa: F401
    activity, alerts, data, discovery, features, feed, journeys, overview, retention, revenue, segments, sessions, subscriptions,
    trend, user,
)
