"""Alembic environment: runs on the connection handed over by ``parley.store.database``."""

from __future__ import annotations

from alembic import context

from parley.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through parley.store.database.migrate
    raise RuntimeError("run migrations with `parley migrate`")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
