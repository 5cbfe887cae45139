"""Mutation testing (not run in CI; see docs/testing.md)."""
