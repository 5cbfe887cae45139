"""Test data: the same generated envelopes the benchmarks use."""

from cli.benchdata import MODEL, T0, make_envelope, png_for

__all__ = ["MODEL", "T0", "make_envelope", "png_for"]
