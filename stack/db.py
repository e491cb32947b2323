"""How the gateway gets a database connection: a callable returning a context manager that yields one (a pooled
connection in production, a fresh psycopg connection in tests). Leaving the block commits or rolls back."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def pooled(
    dsn: str,
    max_size: int = 10,
    timeout: float = 10.0,
    connect_kwargs: Callable[[], dict[str, Any]] | None = None,
) -> tuple[ConnectionPool[Any], Connect]:
    """A pool kept open for the gateway's life; a request waits at most `timeout` seconds for a connection, then
    fails as the database being unreachable (psycopg_pool.PoolTimeout is a psycopg.OperationalError).
    connect_kwargs, when given, is called for each new connection (an IAM token as its password)."""
    pool: ConnectionPool[Any] = ConnectionPool(
        dsn,
        kwargs=connect_kwargs,
        min_size=min(2, max_size),
        max_size=max_size,
        timeout=timeout,
        open=True,
        check=ConnectionPool.check_connection,
    )
    return pool, pool.connection
