"""The audit trail on a real PostgreSQL: who may do what, the chain, and every kind of tampering."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from stack.audit import HASHED_FIELDS, OPTIONAL_HASHED, AuditEvent, Outcome, append, verify
from stack.dev.postgres import LocalPostgres
from stack.errors import AuditChainBroken, GatewayError
from stack.migrate import migrate

Dsn = Callable[[str | None], str]


def event(n: int, actor: str = "alice@clinic") -> AuditEvent:
    return AuditEvent(
        actor=actor, groups=("clinicians",), action="retrieve", collection="cardiology", chunk_ids=(n, n + 1),
        outcome=Outcome.OK, latency_ms=12, query_ref=f"sha256:{n:064x}",
    )  # fmt: skip


def fill(dsn: Dsn, count: int) -> None:
    with psycopg.connect(dsn("phistack_app")) as conn:
        for n in range(count):
            append(conn, event(n))


def auditor(dsn: Dsn) -> psycopg.Connection:  # type: ignore[type-arg]
    return psycopg.connect(dsn("phistack_auditor"))


def test_the_app_role_can_only_append(database: Dsn) -> None:
    with psycopg.connect(database("phistack_app")) as conn:
        seq, digest = append(conn, event(1))
        assert seq == 1 and len(digest) == 64
    for statement in (
        "SELECT * FROM audit_events",
        "DELETE FROM audit_events",
        "UPDATE audit_events SET actor = 'mallory'",
        "INSERT INTO audit_events VALUES (9, 'x', 'x', '{}', 'x', NULL, '{}', '{}', 'ok', 1, NULL, NULL, 'x', 'y')",
    ):
        with psycopg.connect(database("phistack_app")) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_owner_cannot_edit_or_delete_either(database: Dsn) -> None:
    fill(database, 2)
    with psycopg.connect(database(None)) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")


def test_chain_verifies(database: Dsn) -> None:
    fill(database, 25)
    with auditor(database) as conn:
        assert verify(conn) == 25


def _tamper(database: Dsn, *statements: str) -> None:
    """What a privileged attacker could do: lift the append-only trigger, change rows, put it back."""
    with psycopg.connect(database(None)) as conn:
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        for statement in statements:
            conn.execute(statement)
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (["UPDATE audit_events SET actor = 'bob@clinic' WHERE seq = 7"], "Event 7 does not match its hash"),
        (["UPDATE audit_events SET chunk_ids = '{1}' WHERE seq = 3"], "Event 3 does not match its hash"),
        (["DELETE FROM audit_events WHERE seq = 5"], "Event 6 follows event 4: events are missing"),
        (["DELETE FROM audit_events WHERE seq = 10"], "Event 11 follows event 9"),
        # Reorder: swap the contents of two events, keeping their sequence numbers.
        (
            [
                "UPDATE audit_events SET seq = -4 WHERE seq = 4",
                "UPDATE audit_events SET seq = 4 WHERE seq = 8",
                "UPDATE audit_events SET seq = 8 WHERE seq = -4",
            ],
            "Event 4 does not",
        ),
    ],
)
def test_tampering_is_detected(database: Dsn, statements: list[str], message: str) -> None:
    fill(database, 12)
    _tamper(database, *statements)
    with auditor(database) as conn, pytest.raises(AuditChainBroken, match=message):
        verify(conn)


def test_a_rewritten_chain_is_still_caught_at_the_first_forged_hash(database: Dsn) -> None:
    """An attacker who edits a row and recomputes its hash breaks the link to the next event."""
    fill(database, 6)
    with psycopg.connect(database(None)) as conn:
        row = conn.execute(
            "SELECT audit_canonical(seq, at, 'bob', groups, action, collection, document_ids, chunk_ids, outcome, "
            "latency_ms, query_ref, answer_ref, prev_hash, source) FROM audit_events WHERE seq = 2"
        ).fetchone()
        assert row is not None
    import hashlib

    forged = hashlib.sha256(str(row[0]).encode()).hexdigest()
    _tamper(database, f"UPDATE audit_events SET actor = 'bob', hash = '{forged}' WHERE seq = 2")
    with auditor(database) as conn, pytest.raises(AuditChainBroken, match="Event 3 does not chain to event 2"):
        verify(conn)


def test_concurrent_appends_keep_one_chain(database: Dsn) -> None:
    def worker(w: int) -> None:
        with psycopg.connect(database("phistack_app")) as conn:
            for n in range(20):
                with conn.transaction():
                    append(conn, event(n, actor=f"user{w}@clinic"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    with auditor(database) as conn:
        assert verify(conn) == 160


def test_identifiers_with_control_characters_are_refused() -> None:
    with pytest.raises(GatewayError, match="control characters"):
        AuditEvent(actor="alice\x1fx", groups=(), action="retrieve", collection=None, outcome=Outcome.OK, latency_ms=1)


def test_migrations_are_idempotent(database: Dsn) -> None:
    assert migrate(database(None)) == []


def test_gateway_cli_verifies_and_reports_breaks(database: Dsn, capsys: pytest.CaptureFixture[str]) -> None:
    from stack.cli import main

    fill(database, 3)
    assert main(["audit", "verify", "--dsn", database("phistack_auditor")]) == 0
    assert "intact: 3 events" in capsys.readouterr().out
    _tamper(database, "DELETE FROM audit_events WHERE seq = 2")
    assert main(["audit", "verify", "--dsn", database("phistack_auditor")]) == 1
    assert "Event 3 follows event 1" in capsys.readouterr().err
    assert main(["audit", "verify", "--dsn", database("phistack_app")]) == 3  # the app role cannot read it


def test_shipping_appends_only_new_events_resuming_from_the_file(
    database: Dsn, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from stack.cli import main

    out = tmp_path / "log" / "audit-events.jsonl"
    auditor_dsn = database("phistack_auditor")
    fill(database, 3)
    assert main(["audit", "ship", "--dsn", auditor_dsn, "--out", str(out)]) == 0
    assert "shipped 3 events" in capsys.readouterr().out
    assert main(["audit", "ship", "--dsn", auditor_dsn, "--out", str(out)]) == 0
    assert "shipped 0 events" in capsys.readouterr().out
    fill(database, 2)
    assert main(["audit", "ship", "--dsn", auditor_dsn, "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4, 5]  # each once, in order, across runs
    assert all(e["query_ref"] is None or e["query_ref"].startswith(("sha256:", "aes")) for e in lines)
    assert out.stat().st_mode & 0o777 == 0o640
    out.write_text(out.read_text() + "not an event\n")
    assert main(["audit", "ship", "--dsn", auditor_dsn, "--out", str(out)]) == 1
    assert "not an audit event; move the file aside" in capsys.readouterr().err
    assert main(["audit", "ship", "--dsn", database("phistack_app"), "--out", str(tmp_path / "x")]) == 3


def test_serve_refuses_bad_settings_in_one_line(
    gateway_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from stack.cli import main

    monkeypatch = gateway_env
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.strip().startswith("phistack-gateway: error: PHISTACK_GATEWAY_DATABASE_DSN:")
    monkeypatch.setenv("PHISTACK_GATEWAY_DATABASE_DSN", "postgresql://phistack_app@127.0.0.1:9/phistack")
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_ISSUER", "https://idp.clinic.example")
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_AUDIENCE", "CHANGEME")
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_JWKS_URL", "https://idp.clinic.example/jwks")
    assert main(["serve"]) == 2
    assert "PHISTACK_GATEWAY_OIDC_AUDIENCE: Value error, is a placeholder" in capsys.readouterr().err
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_AUDIENCE", "phistack-gateway")
    (tmp_path / "audit.key").write_bytes(b"short")
    monkeypatch.setenv("PHISTACK_GATEWAY_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("phistack-gateway: error: PHISTACK_GATEWAY_AUDIT_KEY_FILE:") and "\n" not in err


def test_the_hashed_fields_are_defined_once_and_the_sql_mirrors_them() -> None:
    """The bytes the database hashes (audit_canonical, as the latest migration defines it) and the bytes verify
    recomputes come from one list: the SQL function takes the same fields in the same order and joins them in
    that order; audit_append's parameters are the event's fields, passed by name, so no positional order can
    drift."""
    import dataclasses
    import re
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "stack" / "migrations"
    defining = [p for p in sorted(folder.glob("*.sql")) if "CREATE FUNCTION audit_canonical" in p.read_text()]
    sql = defining[-1].read_text()
    header = re.search(r"CREATE FUNCTION audit_canonical\((.*?)\) RETURNS", sql, re.S)
    body = re.search(r"concat_ws\(E'\\x1f',(.*?)\)\n\$\$", sql, re.S)
    assert header and body
    params = [p.split()[0] for p in header.group(1).split(",")]
    joined = re.findall(r"\b(" + "|".join(params) + r")\b", body.group(1))
    names = [name for name, _ in HASHED_FIELDS] + list(OPTIONAL_HASHED)
    assert params == names and joined == names
    assert body.group(1).rstrip().endswith("prev_hash, source")  # bare and last: concat_ws skips it when NULL
    append_params = re.search(r"CREATE FUNCTION audit_append\((.*?)\)\nRETURNS", sql, re.S)
    assert append_params
    sql_args = {p.split()[0].removeprefix("p_") for p in append_params.group(1).split(",")}
    assert sql_args == {f.name for f in dataclasses.fields(AuditEvent)}
    assert {o.value for o in Outcome} >= {"ok", "denied", "error"}


def test_events_from_before_the_source_field_still_verify_and_a_source_is_hashed(postgres: LocalPostgres) -> None:
    """Migration 0004 added `source` to the hashed fields: a trail begun under 0003 verifies unchanged after it,
    events naming an S3 object verify, and editing the object named is caught."""
    name = f"upgrade_{os.getpid()}"
    with psycopg.connect(postgres.dsn(dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    owner = postgres.dsn(dbname=name)
    assert migrate(owner, upto=3)[-1] == "0003_api_keys.sql"
    with psycopg.connect(postgres.dsn(user="phistack_app", dbname=name)) as conn:
        for n in range(3):  # as the gateway before 0004 appended: audit_append without p_source
            conn.execute(
                "SELECT audit_append(p_actor => 'alice@clinic', p_groups => '{clinicians}', p_action => 'retrieve', "
                "p_collection => 'cardiology', p_document_ids => '{}', p_chunk_ids => %s::bigint[], "
                "p_outcome => 'ok', p_latency_ms => 12, p_query_ref => NULL, p_answer_ref => NULL)",
                ([n],),
            )
    assert migrate(owner) == [
        "0004_sources.sql", "0005_text_search.sql", "0006_managed_database.sql", "0007_auditor_iam.sql"
    ]  # fmt: skip
    synced = AuditEvent(
        actor="sync:s3", groups=("kb-sync",), action="sync-ingest", collection="cardiology", outcome=Outcome.OK,
        latency_ms=40, document_ids=(7,), source="s3://docs/cardiology/warfarin.pdf?versionId=v2",
    )  # fmt: skip
    with psycopg.connect(postgres.dsn(user="phistack_app", dbname=name)) as conn:
        append(conn, synced)
        append(conn, event(9))
    with psycopg.connect(postgres.dsn(user="phistack_auditor", dbname=name)) as conn:
        assert verify(conn) == 5
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        conn.execute("UPDATE audit_events SET source = 's3://docs/cardiology/other.pdf?versionId=v2' WHERE seq = 4")
    with (
        psycopg.connect(postgres.dsn(user="phistack_auditor", dbname=name)) as conn,
        pytest.raises(AuditChainBroken, match="Event 4 does not match its hash"),
    ):
        verify(conn)


def test_shipping_after_a_restore_resumes_where_the_database_still_agrees(
    database: Dsn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is read back from its end in blocks (made tiny here, so lines straddle them) until an event the
    restored database still holds unchanged: the restored trail's events of the same numbers are shipped too."""
    from stack import audit_export
    from tests.stack.test_anchors import restore_to

    out = tmp_path / "audit-events.jsonl"
    monkeypatch.setattr(audit_export, "TAIL_BLOCK", 97)
    fill(database, 30)
    with auditor(database) as conn:
        assert audit_export.ship(conn, out) == 30
    restore_to(database, 5, 3)
    with auditor(database) as conn:
        assert audit_export.ship(conn, out) == 3
        assert audit_export.ship(conn, out) == 0
    shipped = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["seq"] for e in shipped] == [*range(1, 31), 6, 7, 8]
    assert {e["actor"] for e in shipped[30:]} == {"bob@clinic"}
    restore_to(database, 0, 2)  # nothing the file holds is left: everything is shipped again
    with auditor(database) as conn:
        assert audit_export.ship(conn, out) == 2
