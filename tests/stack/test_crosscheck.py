"""The audit trail against its shipped copy (CloudWatch Logs, or a file), on a real PostgreSQL: events removed,
changed or never shipped are named; events not shipped yet are not a problem."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from stack.audit_export import ship
from stack.cli import main
from stack.crosscheck import compare, lines_from_cloudwatch, lines_from_file
from tests.stack.test_anchors import rewrite_from, superuser
from tests.stack.test_audit import auditor, fill

Dsn = Callable[[str | None], str]


def shipped(database: Dsn, path: Path) -> list[str]:
    with auditor(database) as conn:
        ship(conn, path)
    return path.read_text().splitlines()


def test_a_faithful_copy_agrees_and_newer_events_are_not_yet_shipped(database: Dsn, tmp_path: Path) -> None:
    fill(database, 8)
    shipped(database, tmp_path / "events.jsonl")
    fill(database, 3)
    with auditor(database) as conn:
        result = compare(conn, lines_from_file(tmp_path / "events.jsonl"))
    assert result.agrees and (result.events, result.shipped, result.not_yet) == (11, 8, 3)


def test_removed_changed_and_unshipped_events_are_named(database: Dsn, tmp_path: Path) -> None:
    fill(database, 12)
    lines = shipped(database, tmp_path / "events.jsonl")
    copy = tmp_path / "copy.jsonl"
    copy.write_text("\n".join(line for line in lines if json.loads(line)["seq"] != 4) + "\nnot an event\n")
    superuser(database, lambda conn: rewrite_from(conn, 9))  # 9..12 rewritten (hashes recomputed)
    superuser(database, lambda conn: conn.execute("DELETE FROM audit_events WHERE seq > 10"))
    with auditor(database) as conn:
        result = compare(conn, lines_from_file(copy))
    assert (result.missing, result.differing, result.unknown, result.unreadable) == ([4], [9, 10], [11, 12], 1)
    assert result.problems() == [
        "events 11, 12 were shipped but are not in the database (removed from it)",
        "events 9, 10 differ from their shipped copy (changed in one of them)",
        "events 4 are in the database but were never shipped",
        "1 shipped lines are not audit events",
    ]


def test_the_copy_in_cloudwatch_is_read_back_and_compared(
    database: Dsn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fill(database, 5)
    lines = shipped(database, tmp_path / "events.jsonl")
    now = int(time.time() * 1000)  # CloudWatch refuses events more than 14 days old
    with mock_aws():
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName="/phistack/acme/gateway/audit")
        logs.create_log_stream(logGroupName="/phistack/acme/gateway/audit", logStreamName="gw-a")
        logs.put_log_events(
            logGroupName="/phistack/acme/gateway/audit",
            logStreamName="gw-a",
            logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
        )
        assert sum(1 for _ in lines_from_cloudwatch(logs, "/phistack/acme/gateway/audit")) == 5
        dsn, where = database("phistack_auditor"), "cloudwatch:/phistack/acme/gateway/audit"
        assert main(["audit", "verify", "--dsn", dsn, "--shipped", where]) == 0
        assert "the shipped copy agrees: 5 of 5 events shipped with the same hash" in capsys.readouterr().out
        superuser(database, lambda conn: rewrite_from(conn, 1))
        assert main(["audit", "verify", "--dsn", dsn, "--shipped", where]) == 1
        assert "events 1, 2, 3, 4, 5 differ from their shipped copy" in capsys.readouterr().err
        assert main(["audit", "verify", "--dsn", dsn, "--shipped", "cloudwatch:/no/such/group"]) == 3
        assert "the shipped copy cannot be read (ResourceNotFoundException" in capsys.readouterr().err


def test_after_an_acknowledged_restore_the_copy_holds_both_and_agrees(database: Dsn, tmp_path: Path) -> None:
    """12 events shipped, the database restored to event 6 and written on (events 7..10 anew): shipping resumes
    after event 6, so the copy holds the old 7..12 and the new 7..10. With the restore acknowledged in the anchors
    the old ones are counted as taken back by it; without, they are named. What the restore kept must still match."""
    from stack.anchors import DirectoryStore, anchor, check_trail
    from tests.stack.test_anchors import KEY, restored_and_acknowledged

    out, store = tmp_path / "events.jsonl", DirectoryStore(tmp_path / "anchors")
    fill(database, 6)
    with auditor(database) as conn:
        anchor(conn, store, "gw-a", KEY)
    fill(database, 6)
    shipped(database, out)
    restored_and_acknowledged(database, store, 6, "restored to event 6")
    fill(database, 4)
    lines = shipped(database, out)
    assert [json.loads(line)["seq"] for line in lines] == [*range(1, 13), 7, 8, 9, 10]
    check = check_trail(lambda: auditor(database), store, shipped=lambda: lines_from_file(out))
    assert check.outcome == "intact", check.problems
    assert check.shipped == {"shipped": 12, "events": 10, "not_yet": 0, "lost_in_restores": 6}
    assert check.restores[0]["kept_to_seq"] == 6 and check.restores[0]["reason"] == "restored to event 6"
    with auditor(database) as conn:
        unacknowledged = compare(conn, lines_from_file(out))
    assert (unacknowledged.differing, unacknowledged.unknown, unacknowledged.lost) == ([7, 8, 9, 10], [11, 12], 0)
    edited = tmp_path / "edited.jsonl"
    events = [json.loads(line) for line in lines]
    events[2] |= {"actor": "eve@clinic", "hash": "0" * 64}  # event 3, kept by the restore, changed in the copy
    edited.write_text("".join(json.dumps(e) + "\n" for e in events))
    check = check_trail(lambda: auditor(database), store, shipped=lambda: lines_from_file(edited))
    assert check.outcome == "broken"
    assert check.problems == ["the shipped copy: events 3 differ from their shipped copy (changed in one of them)"]
