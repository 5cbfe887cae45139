"""Prometheus metrics of the event deliverer (`eltrace events deliver --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LAG = Gauge("eltrace_events_lag", "Sequenced events not yet delivered", ["subscriber"])
DELIVERED = Counter("eltrace_events_delivered_total", "Events a receiver acknowledged", ["subscriber"])
FAILURES = Counter("eltrace_events_delivery_failures_total", "Delivery attempts that failed", ["subscriber", "kind"])
DEAD = Counter("eltrace_events_dead_lettered_total", "Events a receiver refused for good", ["subscriber"])
SEQUENCED = Counter("eltrace_events_sequenced_total", "Outbox events given their position")
POST_SECONDS = Histogram(
    "eltrace_events_post_seconds", "One webhook POST", buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
)
LEASE = Gauge("eltrace_events_lease_held", "1 while this process holds the delivery lease")
