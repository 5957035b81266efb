"""Alembic migration scripts for the whole database (rules and bot tables)."""
