"""Scaled-out mode: many connections, many workers, one PostgreSQL (procrastinate; docs/deployment.md)."""
