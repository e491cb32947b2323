"""Schema migrations: numbered SQL files in stack/migrations, each applied once, in one transaction each."""

from __future__ import annotations

from importlib import resources

import psycopg

from stack.errors import DatabaseError


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("stack").joinpath("migrations")
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def migrate(dsn: str, upto: int | None = None) -> list[str]:
    """Apply what is missing (up to version `upto`, by default all); return the files applied. Run as the
    database owner, never as the app role."""
    applied = []
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
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
