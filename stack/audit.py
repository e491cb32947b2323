"""The gateway's audit trail: append (through the database's audit_append) and verify the SHA-256 chain."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

import psycopg

from stack.errors import AuditChainBroken, GatewayError

GENESIS = "0" * 64
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Outcome(StrEnum):
    """How a request ended, as its audit event records it."""

    OK = "ok"
    STREAMING = "streaming"  # the sources are disclosed and the answer starts; a chat-end event follows
    UNCHANGED = "unchanged"  # an upload identical to the stored document: nothing written but the event
    REPLACED = "replaced"  # a new version of a source: document_ids name the new document, then the superseded one
    REMOVED = "removed"  # a source's document deleted because the source is gone (document bucket sync)
    DENIED = "denied"  # not allowed: the caller's groups do not reach the collection or document
    CONFLICT = "conflict"  # the thing to create already exists
    REFUSED = "refused"  # allowed but not done (e.g. the conversation does not fit the model's context)
    ENGINE_UNAVAILABLE = "engine-unavailable"
    ENGINE_ERROR = "engine-error"
    CLIENT_GONE = "client-gone"  # the caller hung up before the answer was complete
    ERROR = "error"  # an unexpected failure; the request touched what the event names


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One event, built by keyword; its fields are audit_append's parameters (p_<field>), passed by name."""

    actor: str
    groups: tuple[str, ...]
    action: str
    collection: str | None
    document_ids: tuple[int, ...] = ()
    chunk_ids: tuple[int, ...] = ()
    outcome: Outcome
    latency_ms: int
    query_ref: str | None = None  # a hash of the query or its ciphertext (stack.sealing), never its text
    answer_ref: str | None = None  # the same for the answer
    source: str | None = None  # the object a sync event acted on: s3://bucket/key?versionId=..., never its content

    def __post_init__(self) -> None:
        for value in (self.actor, self.action, self.outcome, self.collection or "", self.source or "", *self.groups):
            if CONTROL.search(value):
                raise GatewayError("Audit identifiers may not contain control characters.")


_APPEND = "SELECT event_seq, event_hash FROM audit_append({})".format(
    ", ".join(f"p_{f.name} => %({f.name})s" for f in fields(AuditEvent))
)


def append(conn: psycopg.Connection[Any], event: AuditEvent) -> tuple[int, str]:
    """Append inside the caller's transaction; the caller commits before it answers the request."""
    values = asdict(event)
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}
    params["outcome"] = event.outcome.value
    row = conn.execute(_APPEND, params).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _list(value: Any) -> str:
    return "\x1e".join(str(v) for v in value)


# The hashed fields, in order, and how each becomes text: one definition, which audit_canonical in the latest
# migration that defines it mirrors (tests/stack/test_audit.py reads the SQL and compares). OPTIONAL_HASHED come
# after them only when set (concat_ws skips a NULL), so events written before a field existed verify unchanged.
HASHED_FIELDS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("seq", _text), ("at", _text), ("actor", _text), ("groups", _list), ("action", _text), ("collection", _text),
    ("document_ids", _list), ("chunk_ids", _list), ("outcome", _text), ("latency_ms", _text),
    ("query_ref", _text), ("answer_ref", _text), ("prev_hash", _text),
)  # fmt: skip


OPTIONAL_HASHED: tuple[str, ...] = ("source",)


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes the database hashed: the HASHED_FIELDS of the row, then any OPTIONAL_HASHED it has, separated
    by U+001F."""
    parts = [render(row[name]) for name, render in HASHED_FIELDS]
    parts += [str(row[name]) for name in OPTIONAL_HASHED if row.get(name) is not None]
    return "\x1f".join(parts).encode("utf-8")


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
    """Verify the whole trail as the auditor role (SELECT only), streamed: memory stays flat however long it is."""
    with conn.transaction(), conn.cursor(name="audit_verify", row_factory=psycopg.rows.dict_row) as cursor:
        cursor.itersize = 5000
        cursor.execute("SELECT * FROM audit_events ORDER BY seq")
        return verify_rows(cursor)
