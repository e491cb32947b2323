"""Schema migrations: numbered SQL files in stack/migrations, each applied once, in one transaction each."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

import psycopg
from psycopg.conninfo import make_conninfo

from stack.errors import DatabaseError


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("stack").joinpath("migrations")
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


# Held for a whole run: migrations started at once (several hosts, a retried deploy) run one after another, and
# each later one finds the work done, instead of two applying the same file and one failing.
LOCK_KEY = "phistack:migrate"


def migrate(dsn: str, upto: int | None = None, credentials: Mapping[str, str] | None = None) -> list[str]:
    """Apply what is missing (up to version `upto`, by default all); return the files applied. Run as the
    database owner, never as the app role; credentials (user, password) are added to the DSN's, e.g. the owner's
    from Secrets Manager."""
    applied = []
    try:
        with psycopg.connect(make_conninfo(dsn, **(credentials or {})), autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in _migrations():
                if version in done or (upto is not None and version > upto):
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                applied.append(name)
    except psycopg.Error as exc:
        raise DatabaseError(f"Migration failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    return applied
