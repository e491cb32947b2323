"""The audit trail for auditors: JSON Lines, a header saying whether the chain verified, one event per line.
With the deployment's audit key, sealed questions and answers are opened; hashes stay hashes."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stack.audit import verify_rows
from stack.errors import AuditChainBroken
from stack.sealing import AES_PREFIX, AesGcmSealer, SealError

FORMAT = "phistack/audit-export/v1"


def _opened(ref: str | None, purpose: str, opener: AesGcmSealer | None) -> str | None:
    if ref is None or opener is None or not ref.startswith(AES_PREFIX):
        return None
    try:
        return opener.open(ref, purpose)
    except SealError as exc:
        return f"(not opened: {exc})"


def export(conn: psycopg.Connection[Any], out: Path, opener: AesGcmSealer | None = None) -> tuple[int, str | None]:
    """Write the file atomically; return (events, None) or (events, the first break) when the chain is broken."""
    rows = conn.cursor(row_factory=dict_row).execute("SELECT * FROM audit_events ORDER BY seq").fetchall()
    try:
        verify_rows(rows)
        broken = None
    except AuditChainBroken as exc:
        broken = str(exc)
    header = {
        "format": FORMAT,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "events": len(rows),
        "chain": "intact" if broken is None else f"broken: {broken}",
        "opened_with_key": opener.key_id if opener else None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(header) + "\n")
            for row in rows:
                event = dict(row)
                query, answer = _opened(row["query_ref"], "query", opener), _opened(row["answer_ref"], "answer", opener)
                if query is not None:
                    event["query"] = query
                if answer is not None:
                    event["answer"] = answer
                handle.write(json.dumps(event, default=str) + "\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows), broken


TAIL_BLOCK = 65536


def _shipped_backwards(out: Path) -> Iterator[tuple[int, str]]:
    """(seq, hash) of each event in out, the last first, read in blocks from the end (a restore is found within
    the events it took back: the scan stops at the first one the database still holds)."""
    with out.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        rest = b""
        while end > 0:
            start = max(0, end - TAIL_BLOCK)
            handle.seek(start)
            block = handle.read(end - start) + rest
            lines = block.split(b"\n")
            rest = lines.pop(0) if start > 0 else b""
            for line in reversed(lines):
                if line.strip():
                    yield _event_key(out, line)
            end = start


def _event_key(out: Path, line: bytes) -> tuple[int, str]:
    try:
        event = json.loads(line)
        return int(event["seq"]), str(event["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditChainBroken(f"{out}: a line is not an audit event; move the file aside.") from None


def _resume_after(conn: psycopg.Connection[Any], out: Path) -> int:
    """The last event already in out that the database still holds unchanged (0 for a new file): shipping
    resumes after it. Usually the last line; after a restore, the events the restore took back are skipped over,
    so the restored trail's own events of the same numbers are shipped too (an acknowledged restore accounts for
    the old copies: stack.crosscheck)."""
    if not out.exists() or out.stat().st_size == 0:
        return 0
    batch: list[tuple[int, str]] = []

    def held(keys: list[tuple[int, str]]) -> int | None:
        found = dict(conn.execute(
            "SELECT seq, hash FROM audit_events WHERE seq = ANY(%s)", ([seq for seq, _ in keys],)
        ).fetchall())  # fmt: skip
        return next((seq for seq, digest in keys if found.get(seq) == digest), None)

    for key in _shipped_backwards(out):
        batch.append(key)
        if len(batch) == 1 or len(batch) >= 1000:  # the last line alone first: the usual case, one lookup
            if (seq := held(batch)) is not None:
                return seq
            batch = []
    return (held(batch) if batch else None) or 0


def ship(conn: psycopg.Connection[Any], out: Path, batch: int = 10_000) -> int:
    """Append the events committed since the last run to out, one JSON line each, for the log agent to ship
    (CloudWatch). Questions and answers stay as stored: hashes, or sealed without the key. Returns the count."""
    after = _resume_after(conn, out)
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM audit_events WHERE seq > %s ORDER BY seq LIMIT %s", (after, batch))
        .fetchall()
    )
    if not rows:
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(dict(row), default=str) + "\n" for row in rows))
    return len(rows)
