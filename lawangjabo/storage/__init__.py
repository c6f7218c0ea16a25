"""Storage: the DuckDB gateway and migrations, spool files, the audit spool."""
