"""Local servers the CLI (demo, benchmarks, embedded Redis) and the test suite start: Redis, PostgreSQL, the API."""
