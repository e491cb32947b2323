"""The audit trail against its shipped copy: the events ``audit ship`` appended for the CloudWatch agent, read back
from the log group (or from a file: an export of it, or the shipped file itself).

Two copies kept by different parties: the database (its superuser can rewrite it) and CloudWatch Logs (the
stack's account, encrypted with the logs key). An event in one and not the other, or with another hash, is named.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

MAX_LINE = 65536  # a shipped event is a few hundred bytes; a longer line is not one and is not parsed
SHOWN = 10  # how many sequence numbers each sentence names


@dataclass(frozen=True)
class Lost:
    """What an acknowledged restore took back (stack.anchors.Restore): the events after ``after_seq`` written
    before ``before`` (the restore anchor's time) are no longer the trail's, and their shipped copies are not
    expected to match it."""

    after_seq: int
    before: dt.datetime  # the restore anchor's time (parse checked it carries an offset)

    def covers(self, seq: int, at: str) -> bool:
        """Whether the shipped event ``seq`` written ``at`` (ISO 8601, as shipped) is one this restore took back."""
        if seq <= self.after_seq:
            return False
        try:
            written = dt.datetime.fromisoformat(at)
        except ValueError:
            return False
        return written.tzinfo is not None and written < self.before


@dataclass
class ShippedComparison:
    events: int = 0  # in the database
    shipped: int = 0  # distinct events in the shipped copy
    missing: list[int] = field(default_factory=list)  # in the database, not shipped, though later ones were
    differing: list[int] = field(default_factory=list)  # shipped with another hash than the database's
    unknown: list[int] = field(default_factory=list)  # shipped, but no longer in the database
    unreadable: int = 0  # shipped lines that are not events
    not_yet: int = 0  # database events after the last shipped one (the agent ships every minute)
    lost: int = 0  # shipped events an acknowledged restore took back (not problems: the restore is reported)

    @property
    def agrees(self) -> bool:
        return not (self.missing or self.differing or self.unknown or self.unreadable)

    def problems(self) -> list[str]:
        def named(seqs: list[int]) -> str:
            more = f" and {len(seqs) - SHOWN} more" if len(seqs) > SHOWN else ""
            return ", ".join(map(str, seqs[:SHOWN])) + more

        out = []
        if self.unknown:
            out.append(f"events {named(self.unknown)} were shipped but are not in the database (removed from it)")
        if self.differing:
            out.append(f"events {named(self.differing)} differ from their shipped copy (changed in one of them)")
        if self.missing:
            out.append(f"events {named(self.missing)} are in the database but were never shipped")
        if self.unreadable:
            out.append(f"{self.unreadable} shipped lines are not audit events")
        return out


def compare(conn: psycopg.Connection[Any], shipped: Iterable[str], lost: Sequence[Lost] = ()) -> ShippedComparison:
    """Each shipped line (one JSON event) against the database's event of the same sequence number. After a
    restore the copy holds an event twice for some numbers (before and after it): either may match, and one
    that does not is a problem unless an acknowledged restore (``lost``) took it back."""
    result = ShippedComparison()
    copies: dict[int, str] = {}  # seq -> "hash at" of the last line shipped for it
    earlier: dict[int, list[str]] = {}  # seq -> the same for lines shipped before it with another hash
    for line in shipped:
        try:
            if len(line) > MAX_LINE:
                raise ValueError(line[:40])
            event = json.loads(line)
            seq, entry = int(event["seq"]), f"{event['hash']} {event['at']}"
        except (ValueError, TypeError, KeyError):
            result.unreadable += 1
            continue
        before = copies.get(seq)
        if before is not None and before.partition(" ")[0] != entry.partition(" ")[0]:
            earlier.setdefault(seq, []).append(before)
        copies[seq] = entry
    result.shipped = len(copies)

    def taken_back(seq: int, entry: str) -> bool:
        return any(r.covers(seq, entry.partition(" ")[2]) for r in lost)

    last_shipped = max((seq for seq, entry in copies.items() if not (lost and taken_back(seq, entry))), default=0)
    with conn.transaction(), conn.cursor(name="crosscheck") as cursor:
        cursor.itersize = 10000
        cursor.execute("SELECT seq, hash FROM audit_events ORDER BY seq")
        for seq, digest in cursor:
            result.events += 1
            versions = earlier.pop(seq, []) + ([copies.pop(seq)] if seq in copies else [])
            others = [v for v in versions if v.partition(" ")[0] != digest]
            kept = [v for v in others if not taken_back(seq, v)]
            result.lost += len(others) - len(kept)
            if kept:
                result.differing.append(seq)
            elif len(others) == len(versions):  # no shipped copy of this event
                if seq < last_shipped:
                    result.missing.append(seq)
                else:
                    result.not_yet += 1
    for seq in sorted(set(copies) | set(earlier)):  # shipped, and no longer in the database
        entries = earlier.get(seq, []) + ([copies[seq]] if seq in copies else [])
        gone = sum(taken_back(seq, e) for e in entries)
        result.lost += gone
        if gone < len(entries):
            result.unknown.append(seq)
    return result


def lines_from_file(path: Path) -> Iterator[str]:
    """A JSON Lines file: the shipped file, or an export of the log group (an export's header line is skipped)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip() and '"format"' not in line[:40]:
                yield line


def lines_from_cloudwatch(client: Any, group: str) -> Iterator[str]:
    """Every event of the log group, through the logs endpoint (as an auditor's role may read it)."""
    for page in client.get_paginator("filter_log_events").paginate(logGroupName=group):
        for event in page.get("events", []):
            yield event["message"]


def shipped_lines(where: str) -> Iterator[str]:
    """``cloudwatch:LOG_GROUP`` or a file."""
    if where.startswith("cloudwatch:"):
        import boto3

        return lines_from_cloudwatch(boto3.client("logs"), where.removeprefix("cloudwatch:"))
    return lines_from_file(Path(where))
