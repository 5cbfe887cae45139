"""Ingest consumer helpers: metric labels and error classification."""

from __future__ import annotations


def test_dead_letter_metric_labels_are_a_fixed_set() -> None:
    from services.ingest.metrics import reason_kind

    assert reason_kind("signature: unknown key 'k1' for device 'x'") == "signature"
    assert reason_kind("unsupported schema version '99'") == "version"
    assert reason_kind("unsupported schema version 'attacker-chosen-text-1234'") == "version"
    assert reason_kind("something new") == "other"


def test_driver_connection_errors_count_as_an_outage_not_a_bad_row() -> None:
    import psycopg

    from services.ingest.consumer import _is_connection_error

    assert _is_connection_error(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert _is_connection_error(psycopg.InterfaceError("connection already closed"))
    assert not _is_connection_error(psycopg.errors.NotNullViolation("null value"))
    assert not _is_connection_error(ValueError("x"))
