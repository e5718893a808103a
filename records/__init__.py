"""The system of record: organizations, API keys (hashes), the usage ledger and the audit trail in a database
(PostgreSQL, or the SQLite file of `tiergate up`), written and read through `records.repository`."""
