"""The lowest layer: domain types, errors and small helpers (stdlib and pydantic only)."""
