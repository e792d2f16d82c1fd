"""fitsflow's Alembic revision chain (one chain for SQLite and PostgreSQL).

A package so that an installed fitsflow (not only a source checkout) carries
its migrations: ``pipeline.db.migrate`` points Alembic here.
"""
