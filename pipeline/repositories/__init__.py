"""Repositories: SQL written once per operation, rows turned into records.

Each module covers one table and exposes plain async functions taking a
:class:`pipeline.db.Connection`, so the caller decides the transaction.
"""
