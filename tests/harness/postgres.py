"""A PostgreSQL schema of a test's own, in the `test` database at 127.0.0.1:5432, dropped afterwards."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy
from sqlalchemy import text

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_schema(prefix: str = "t"):
    """Yields a store URL whose tables land in a new schema; the schema and its rows go when the block ends."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except sqlalchemy.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (database test) is needed for this test: {error}", pytrace=False)
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
