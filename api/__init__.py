"""Mirante data API (read-only, as mirante_reader) and the dashboard served beside it."""
