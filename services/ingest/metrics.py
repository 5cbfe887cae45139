"""Prometheus metrics of the ingest consumer (scraped from the API process's /metrics or its own port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INGESTED = Counter("eltrace_ingest_results_total", "Results stored for the first time")
DUPLICATES = Counter("eltrace_ingest_duplicates_total", "Redeliveries absorbed by the idempotent insert")
DEAD_LETTERED = Counter("eltrace_ingest_dead_lettered_total", "Messages sent to the dead-letter stream", ["reason"])
OUTAGES = Counter("eltrace_ingest_outages_total", "Loops that found a dependency down", ["dependency"])
BATCH_SECONDS = Histogram(
    "eltrace_ingest_batch_seconds",
    "Time to store one batch (insert + commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TRIMMED = Counter("eltrace_ingest_trimmed_total", "Acknowledged stream entries trimmed away (XTRIM MINID)")
ERRORS = Counter("eltrace_ingest_loop_errors_total", "Unexpected errors the loop rode out", ["kind"])
LAST_BATCH = Gauge("eltrace_ingest_last_batch_timestamp_seconds", "When the last batch was committed")


_KINDS = (
    ("signature", "signature"),
    ("not JSON", "not_json"),
    ("schema version", "version"),
    ("invalid envelope", "invalid_envelope"),
    ("unknown device", "unknown_device"),
    ("database refused", "db_refused"),
    ("not UTF-8", "not_utf8"),
    ("station mismatch", "station_mismatch"),
    ("implausible", "implausible_time"),
    ("different content", "result_id_conflict"),
    ("unexpected error", "unexpected"),
)


def reason_kind(reason: str) -> str:
    """A fixed label per kind of reason: attacker-controlled text must not create metric series."""
    return next((kind for key, kind in _KINDS if key in reason), "other")
