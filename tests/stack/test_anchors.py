"""Anchors on a real PostgreSQL: what the hash chain alone cannot find (a superuser rewriting the whole chain
with every hash recomputed, a truncation, an older backup restored) is found against the signed heads kept
outside the database; an anchor deleted or altered is found too."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from moto import mock_aws
from psycopg.rows import dict_row

from stack.anchors import (
    AnchorError,
    DirectoryStore,
    S3Store,
    anchor,
    create_private_key,
    read_anchors,
    verify_against,
)
from stack.audit import canonical, verify
from stack.cli import main
from stack.errors import AuditChainBroken
from tests.stack.test_audit import auditor, event, fill

Dsn = Callable[[str | None], str]
KEY = Ed25519PrivateKey.generate()


def anchored(database: Dsn, store: DirectoryStore, host: str = "gw-a") -> None:
    with auditor(database) as conn:
        anchor(conn, store, host, KEY)


def verify_anchored(database: Dsn, store: DirectoryStore) -> Any:
    with auditor(database) as conn:
        return verify_against(conn, read_anchors(store))


def superuser(database: Dsn, work: Callable[[psycopg.Connection[Any]], None]) -> None:
    """What a superuser can do: lift the append-only trigger, change anything, put it back."""
    with psycopg.connect(database(None)) as conn:
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        work(conn)
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


def rewrite_from(conn: psycopg.Connection[Any], first: int) -> None:
    """Change every event from ``first`` on and recompute every hash and link after it: a consistent chain."""
    rows = conn.cursor(row_factory=dict_row).execute("SELECT * FROM audit_events ORDER BY seq").fetchall()
    previous = None
    for row in rows:
        if previous is not None:
            row["prev_hash"] = previous
        if row["seq"] >= first:
            row["actor"] = "mallory@clinic"
        row["hash"] = hashlib.sha256(canonical(row)).hexdigest()
        conn.execute(
            "UPDATE audit_events SET actor = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            (row["actor"], row["prev_hash"], row["hash"], row["seq"]),
        )
        previous = row["hash"]


def test_an_untouched_trail_verifies_against_every_anchor(database: Dsn, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    anchored(database, store)  # an empty chain is anchored too (event 0)
    fill(database, 10)
    anchored(database, store)
    fill(database, 5)
    anchored(database, store, host="gw-b")  # a second gateway on the same database: the one chain
    result = verify_anchored(database, store)
    assert (result.events, result.anchors) == (15, 3)
    assert (result.last.host, result.last.seq) == ("gw-b", 15)
    assert sorted(p.name for p in (tmp_path / "gw-a").iterdir()) == ["000000000001.json", "000000000002.json", "keys"]


def test_a_superuser_rewrite_with_every_hash_recomputed_is_found(database: Dsn, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    fill(database, 10)
    anchored(database, store)
    fill(database, 4)
    superuser(database, lambda conn: rewrite_from(conn, 3))
    with auditor(database) as conn:
        assert verify(conn) == 14  # the chain alone cannot tell: every link and hash is consistent
    with pytest.raises(AuditChainBroken, match=r"Anchor 1 of host gw-a .* names event 10 with hash .* rewritten"):
        verify_anchored(database, store)


def test_a_truncated_trail_is_found(database: Dsn, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    fill(database, 12)
    anchored(database, store)
    superuser(database, lambda conn: conn.execute("DELETE FROM audit_events WHERE seq > 8"))
    with auditor(database) as conn:
        assert verify(conn) == 8
    with pytest.raises(AuditChainBroken, match="names event 12, but the trail ends at event 8: events were removed"):
        verify_anchored(database, store)


def test_an_older_backup_restored_and_written_on_is_found(database: Dsn, tmp_path: Path) -> None:
    """The database goes back to event 6 (a restore), then the gateway writes on: a valid chain of 12 events,
    whose 7th to 12th are not the ones anchored."""
    store = DirectoryStore(tmp_path)
    fill(database, 6)
    anchored(database, store)
    fill(database, 6)
    anchored(database, store)
    restore_to(database, 6, 6)
    with auditor(database) as conn:
        assert verify(conn) == 12
    with pytest.raises(AuditChainBroken, match="Anchor 2 of host gw-a .* names event 12 with hash"):
        verify_anchored(database, store)


def restore_to(database: Dsn, last: int, then: int) -> None:
    """An older backup restored (the trail back to event ``last``), then ``then`` events written on it."""
    from stack.audit import append

    superuser(database, lambda conn: conn.execute("DELETE FROM audit_events WHERE seq > %s", (last,)))
    with psycopg.connect(database("phistack_app")) as conn:
        for n in range(then):
            append(conn, event(100 + n, actor="bob@clinic"))


def restored_and_acknowledged(database: Dsn, store: DirectoryStore, last: int, reason: str, filled: int = 0) -> None:
    """(``filled`` events written and anchored first), the trail restored to event ``last``, and the restore
    acknowledged by gw-a in the anchors."""
    if filled:
        fill(database, filled)
        anchored(database, store)
    restore_to(database, last, 0)
    with auditor(database) as conn:
        anchor(conn, store, "gw-a", KEY, restore=reason)


def test_an_acknowledged_restore_is_reported_and_guards_nothing_after_it(database: Dsn, tmp_path: Path) -> None:
    """Anchors of two hosts before a restore to event 6; the restore anchor supersedes them: those the restored
    trail no longer holds are reported as replaced by it; it and every anchor after it must still hold."""
    store = DirectoryStore(tmp_path)
    fill(database, 6)
    anchored(database, store)  # gw-a 1: event 6, kept by the restore
    fill(database, 6)
    anchored(database, store)  # gw-a 2: event 12
    anchored(database, store, host="gw-b")  # gw-b 1: event 12
    restore_to(database, 6, 0)
    with auditor(database) as conn:
        made = anchor(conn, store, "gw-a", KEY, restore="PITR to 10:00, ticket 42")
    assert (made.number, made.seq, made.supersedes) == (3, 6, {"gw-a": 2, "gw-b": 1})
    fill(database, 6)  # the gateway writes on: events 7..12 anew
    anchored(database, store)  # gw-a 4: the new event 12
    result = verify_anchored(database, store)
    assert (result.events, result.anchors, len(result.restores)) == (12, 5, 1)
    restore = result.restores[0]
    assert restore.kept_to == 6 and [(a.host, a.number) for a in restore.replaced] == [("gw-a", 2), ("gw-b", 1)]
    assert restore.sentence() == (
        f"restore acknowledged by gw-a at {made.at} (PITR to 10:00, ticket 42): 2 earlier anchors, from event 12 "
        "on, replaced"
    )
    assert restore.record()["replaced_from_seq"] == 12
    # Without it, the same trail contradicts the anchors it replaced.
    (tmp_path / "gw-a" / "000000000003.json").unlink()
    (tmp_path / "gw-a" / "000000000004.json").unlink()
    with pytest.raises(AuditChainBroken, match="Anchor 2 of host gw-a .* names event 12 with hash"):
        verify_anchored(database, store)


def test_a_restore_anchor_forgives_nothing_written_after_it(database: Dsn, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    restored_and_acknowledged(database, store, 4, "restored to event 4", filled=8)
    fill(database, 5)
    anchored(database, store)
    assert verify_anchored(database, store).restores[0].kept_to == 0
    superuser(database, lambda conn: rewrite_from(conn, 7))  # after the restore anchor, before the next
    with pytest.raises(AuditChainBroken, match="Anchor 3 of host gw-a .* names event 9 with hash"):
        verify_anchored(database, store)
    superuser(database, lambda conn: rewrite_from(conn, 2))  # before the restore anchor's own head
    with pytest.raises(AuditChainBroken, match="Anchor 2 of host gw-a .* names event 4 with hash"):
        verify_anchored(database, store)


def test_a_restore_anchor_altered_or_unsigned_supersedes_nothing(database: Dsn, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    restored_and_acknowledged(database, store, 2, "restored", filled=5)
    written = tmp_path / "gw-a" / "000000000002.json"
    document = json.loads(written.read_text())
    written.write_text(json.dumps({**document, "reason": "nothing happened here"}))
    with pytest.raises(AuditChainBroken, match="the signature does not verify"):
        verify_anchored(database, store)
    other = DirectoryStore(tmp_path / "elsewhere")
    with auditor(database) as conn:
        anchor(conn, other, "gw-a", Ed25519PrivateKey.generate(), restore="by another key")
    written.write_bytes((tmp_path / "elsewhere" / "gw-a" / "000000000001.json").read_bytes())
    found = read_anchors(store, trusted=[KEY.public_key()])
    assert any("not a known anchor key" in p for p in found.problems)


def test_a_deleted_anchor_is_a_gap_and_an_altered_one_does_not_verify(database: Dsn, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    for _ in range(3):
        fill(database, 2)
        anchored(database, store)
    (tmp_path / "gw-a" / "000000000002.json").unlink()  # AWS refuses this under Object Lock; a folder cannot
    with pytest.raises(AuditChainBroken, match="host gw-a: anchors 2 are missing"):
        verify_anchored(database, store)
    third = tmp_path / "gw-a" / "000000000003.json"
    third.write_text(third.read_text().replace('"seq": 6', '"seq": 5'))
    found = read_anchors(store)
    assert any("the signature does not verify" in p for p in found.problems)


def test_a_signed_anchor_whose_time_is_not_iso_8601_with_an_offset_is_refused() -> None:
    from stack.anchors import Anchor, key_id, parse, sign

    keys = {key_id(KEY.public_key()): KEY.public_key()}
    for at in ("yesterday", "2026-12-04T07:00:00"):  # the report compares anchor times: each must be one
        made = Anchor("gw-a", 1, 0, "0" * 64, at, key_id(KEY.public_key()))
        with pytest.raises(AnchorError, match="not a phistack/audit-anchor/v1 document"):
            parse(sign(made, KEY), made.name, keys)


def test_anchors_signed_by_another_key_are_refused(database: Dsn, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    fill(database, 2)
    anchored(database, store)
    found = read_anchors(store, trusted=[Ed25519PrivateKey.generate().public_key()])
    assert found.anchors == [] and "not a known anchor key" in found.problems[0]


def test_the_anchor_bucket_takes_each_name_once(database: Dsn) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="archive", ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket="archive",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}
            },
        )  # fmt: skip
        store = S3Store(s3, "archive", "audit-anchors")
        fill(database, 3)
        with auditor(database) as conn:
            first = anchor(conn, store, "gw-a", KEY)
            second = anchor(conn, store, "gw-a", KEY)
        assert (first.number, second.number) == (1, 2)
        assert not store.put_new(first.name, b"{}")  # If-None-Match: an existing anchor is never replaced
        result = verify_anchored(database, store)  # type: ignore[arg-type]
        assert (result.events, result.anchors) == (3, 2)
        # Written again without If-None-Match (the bucket policy refuses that in AWS; moto does not evaluate it):
        # the first version is still the one read, and the second is named.
        s3.put_object(Bucket="archive", Key="audit-anchors/gw-a/000000000002.json", Body=b"{}")
        found = read_anchors(store)
        assert len(found.anchors) == 2
        assert found.problems == ["gw-a/000000000002.json: written more than once (the first version is the one read)"]
        version = s3.list_object_versions(Bucket="archive", Prefix="audit-anchors/gw-a/000000000001")["Versions"][0]
        with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):  # Object Lock, COMPLIANCE
            s3.delete_object(
                Bucket="archive", Key="audit-anchors/gw-a/000000000001.json", VersionId=version["VersionId"]
            )


def test_the_anchor_key_is_created_once(tmp_path: Path) -> None:
    create_private_key(tmp_path / "anchor.pem")
    assert oct((tmp_path / "anchor.pem").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(AnchorError, match="exists; an anchor key is never replaced"):
        create_private_key(tmp_path / "anchor.pem")


def test_gateway_cli_anchors_and_verifies(database: Dsn, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, where, dsn = tmp_path / "anchor.pem", str(tmp_path / "anchors"), database("phistack_auditor")
    assert main(["audit", "anchor-key", "--out", str(key)]) == 0
    fill(database, 4)
    assert main(["audit", "anchor", "--dsn", dsn, "--to", where, "--host", "gw-a", "--key-file", str(key)]) == 0
    assert main(["audit", "verify", "--dsn", dsn, "--anchors", where]) == 0
    assert "every one of 1 anchors found unchanged (last: event 4 by gw-a" in capsys.readouterr().out
    pinned = ["--public-key", str(tmp_path / "anchor.pub.pem")]
    assert main(["audit", "verify", "--dsn", dsn, "--anchors", where, *pinned]) == 0
    assert main(["audit", "verify", "--dsn", dsn, "--anchors", where, "--json"]) == 0
    document = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert document["format"] == "phistack/audit-verify/v1" and document["outcome"] == "intact"
    assert (document["events"], document["anchors"], document["last_anchor"]["seq"]) == (4, 1, 4)
    superuser(database, lambda conn: rewrite_from(conn, 1))
    assert main(["audit", "verify", "--dsn", dsn, "--anchors", where, "--json"]) == 1
    document = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert document["outcome"] == "broken" and "was rewritten" in document["problems"][0]
    assert main(["audit", "verify", "--dsn", dsn]) == 0  # the chain alone is fooled
    assert main(["audit", "verify", "--dsn", dsn, "--anchors", where]) == 1
    assert "the trail was rewritten" in capsys.readouterr().err
    assert main(["audit", "verify", "--dsn", dsn, "--anchors", str(tmp_path / "none")]) == 3
    assert main(["audit", "anchor", "--dsn", dsn, "--to", where, "--host", "bad/name", "--key-file", str(key)]) == 2
    assert "--host 'bad/name'" in capsys.readouterr().err
    restore = ["audit", "anchor", "--dsn", dsn, "--to", where, "--host", "gw-a", "--key-file", str(key), "--restore"]
    assert main([*restore, " "]) == 2
    assert "--restore: the reason must be 1 to 300 characters" in capsys.readouterr().err
    assert len(list((tmp_path / "anchors" / "gw-a").glob("*.json"))) == 1  # nothing written for either
    assert main([*restore, "the rewrite above, acknowledged"]) == 0
    assert "acknowledged a restore at event 4 as gw-a/000000000002.json" in capsys.readouterr().out
    assert main(["audit", "verify", "--dsn", dsn, "--anchors", where]) == 0
    said = capsys.readouterr().out
    assert "a restore acknowledged by gw-a at " in said and "(the rewrite above, acknowledged) replaced 1" in said


def test_the_readme_anchor_example_runs_as_written(
    database: Dsn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's blocks, line by line, with only the DSN and /etc/phistack/ put somewhere real: the archive
    bucket (Object Lock) and the shipped log group on moto. Between the two, the database is restored to an
    earlier moment and written on, which the second block acknowledges."""
    import re
    import shlex
    import time

    from stack.audit_export import ship
    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")

    def run_block(name: str) -> str:
        block = re.search(rf"<!-- example: {name} -->\n```bash\n(.*?)\n```", text, re.DOTALL)
        assert block is not None, name
        for line in block[1].splitlines():
            argv = [
                arg.replace("$AUDITOR_DSN", database("phistack_auditor")).replace("/etc/phistack/", f"{tmp_path}/")
                for arg in shlex.split(line, comments=True)
            ]
            if argv:
                assert argv[0] == "phistack-gateway"
                assert main(argv[1:]) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fill(database, 6)
    with mock_aws():
        s3, logs = boto3.client("s3"), boto3.client("logs")
        s3.create_bucket(Bucket="phistack-acme-audit-logs-111122223333", ObjectLockEnabledForBucket=True)
        group = "/phistack/acme/gateway/audit"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="gw-a")
        with auditor(database) as conn:
            ship(conn, tmp_path / "events.jsonl")
        now = int(time.time() * 1000)
        lines = (tmp_path / "events.jsonl").read_text().splitlines()
        events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
        logs.put_log_events(logGroupName=group, logStreamName="gw-a", logEvents=events)
        out = run_block("audit-anchors")
        assert "anchored event 6 as gw-a/000000000001.json" in out
        assert "every one of 1 anchors found unchanged" in out and "the shipped copy agrees: 6 of 6" in out
        restore_to(database, 3, 2)  # an Aurora point-in-time restore to event 3, and two requests since
        out = run_block("audit-restore")
        assert "acknowledged a restore at event 5 as gw-a/000000000002.json" in out
        assert "(Aurora point-in-time restore to 2026-12-03 14:05 UTC, ticket 42) replaced 1 earlier anchors" in out
        assert "and 1 of 2 anchors found unchanged (last: event 5 by gw-a" in out
