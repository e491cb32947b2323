"""The gateway's audit trail: append (through the database's audit_append) and verify the SHA-256 chain."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from stack.errors import AuditChainBroken, GatewayError

GENESIS = "0" * 64
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    groups: tuple[str, ...]
    action: str
    collection: str | None
    chunk_ids: tuple[int, ...]
    outcome: str
    latency_ms: int
    query_ref: str | None = None  # a hash of the query or its ciphertext (stack.sealing), never its text
    answer_ref: str | None = None  # the same for the answer
    document_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for value in (self.actor, self.action, self.outcome, self.collection or "", *self.groups):
            if CONTROL.search(value):
                raise GatewayError("Audit identifiers may not contain control characters.")


def append(conn: psycopg.Connection[Any], event: AuditEvent) -> tuple[int, str]:
    """Append inside the caller's transaction; the caller commits before it answers the request."""
    row = conn.execute(
        "SELECT event_seq, event_hash FROM audit_append(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            event.actor,
            list(event.groups),
            event.action,
            event.collection,
            list(event.document_ids),
            list(event.chunk_ids),
            event.outcome,
            event.latency_ms,
            event.query_ref,
            event.answer_ref,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes the database hashed (mirrors audit_canonical in migrations/0001_audit_trail.sql)."""
    fields = [
        str(row["seq"]),
        row["at"],
        row["actor"],
        "\x1e".join(row["groups"]),
        row["action"],
        row["collection"] or "",
        "\x1e".join(str(d) for d in row["document_ids"]),
        "\x1e".join(str(c) for c in row["chunk_ids"]),
        row["outcome"],
        str(row["latency_ms"]),
        row["query_ref"] or "",
        row["answer_ref"] or "",
        row["prev_hash"],
    ]
    return "\x1f".join(fields).encode("utf-8")


def verify_rows(rows: Iterable[dict[str, Any]]) -> int:
    """Check every link; return how many events verified. Raises AuditChainBroken naming the first break."""
    previous_hash, previous_seq, count = GENESIS, 0, 0
    for row in rows:
        seq = int(row["seq"])
        if seq != previous_seq + 1:
            raise AuditChainBroken(
                f"Event {seq} follows event {previous_seq}: "
                f"{'events are missing (deleted)' if seq > previous_seq + 1 else 'order is broken'}."
            )
        if row["prev_hash"] != previous_hash:
            raise AuditChainBroken(f"Event {seq} does not chain to event {previous_seq} (reordered or replaced).")
        if hashlib.sha256(canonical(row)).hexdigest() != row["hash"]:
            raise AuditChainBroken(f"Event {seq} does not match its hash (edited after it was written).")
        previous_hash, previous_seq, count = row["hash"], seq, count + 1
    return count


def verify(conn: psycopg.Connection[Any]) -> int:
    """Verify the whole trail as the auditor role (SELECT only)."""
    cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
    return verify_rows(cursor.execute("SELECT * FROM audit_events ORDER BY seq"))
