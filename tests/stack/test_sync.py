"""The document bucket as the source of truth (issue 16): S3 events through a real (emulated) SQS queue into the
real PostgreSQL + pgvector store. Duplicates, reordering, missed events, unreadable documents and our own
failures; every action audited with the object's bucket, key and version, never its content."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from stack.audit import verify
from stack.embeddings import MiniLMEmbedder
from stack.errors import EngineUnavailable
from stack.store import create_collection, retrieve
from stack.sync import QueueWorker, Syncer, collection_of, keys_in, media_type_of, object_ref
from tests.stack.pdfs import tiny_pdf

Dsn = Callable[[str | None], str]
BUCKET = "clinic-docs"
SYNC_GROUPS = ("kb-sync",)
WARFARIN_V1 = "Warfarin doses keep the INR between 2.0 and 3.0. Check the INR weekly until stable."
WARFARIN_V2 = "Warfarin doses keep the INR between 2.5 and 3.5 for mechanical valves. Check the INR every 4 weeks."


@dataclass
class Kb:
    s3: Any
    sqs: Any
    queue: str
    dead_letters: str
    syncer: Syncer
    worker: QueueWorker
    database: Dsn
    embedder: MiniLMEmbedder

    def put(self, key: str, body: bytes | str, **extra: Any) -> str:
        data = body.encode() if isinstance(body, str) else body
        return str(self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, **extra)["VersionId"])

    def drain(self) -> dict[str, int]:
        """Poll until the queue is empty; the tally of everything done."""
        total: dict[str, int] = {}
        for _ in range(20):
            tally = self.worker.poll()
            for name, n in tally.counts.items():
                total[name] = total.get(name, 0) + n
            if not tally.counts and self.waiting() == 0:
                return total
        raise AssertionError("the queue did not drain")

    def waiting(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def lose_events(self) -> None:
        """Receive and delete everything queued, as if the events had never arrived."""
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def dead(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(m["Body"]) for m in got.get("Messages", ())]

    def texts(self, question: str, groups: list[str] | None = None) -> list[str]:
        with psycopg.connect(self.database("phistack_app")) as conn:
            vector = self.embedder.embed([question])[0]
            return [h.text for h in retrieve(conn, groups or ["clinicians"], vector, k=10, query_text=question)]

    def events(self) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database("phistack_auditor")) as conn:
            verify(conn)
            rows = conn.execute(
                "SELECT actor, action, outcome, collection, document_ids, source FROM audit_events ORDER BY seq"
            ).fetchall()
        return [tuple(r) for r in rows]


def connector(database: Dsn) -> Callable[[], AbstractContextManager[psycopg.Connection[Any]]]:
    return lambda: psycopg.connect(database("phistack_app"))


@pytest.fixture
def kb(database: Dsn, embedder: MiniLMEmbedder) -> Iterator[Kb]:
    with psycopg.connect(database(None)) as admin:
        create_collection(admin, "cardiology", "Cardiology", ["clinicians"], ["cardiology-editors", *SYNC_GROUPS])
        create_collection(admin, "billing", "Billing", ["billing"], ["billing"])  # the sync service may not write
    with mock_aws():
        s3, sqs = boto3.client("s3", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dead = sqs.create_queue(QueueName="docs-events-dlq")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "5"})
        queue = sqs.create_queue(
            QueueName="docs-events", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"}
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
            },
        )
        syncer = Syncer(s3, connector(database), embedder, BUCKET, SYNC_GROUPS, 2_000_000)
        yield Kb(s3, sqs, queue, dead, syncer, QueueWorker(syncer, sqs, queue, dead, wait_s=0), database, embedder)


def removal_event(key: str, version: str | None = None) -> str:
    """What S3 sends when a versioned object gets a delete marker (moto sends nothing for it: see
    ../shared/notes/environment.md), in AWS's own record format."""
    obj: dict[str, Any] = {"key": key.replace(" ", "+"), "sequencer": "0066"}
    if version:
        obj["versionId"] = version
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectRemoved:DeleteMarkerCreated",
        "s3": {"bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"}, "object": obj},
    }
    return json.dumps({"Records": [record]})


def test_a_put_becomes_retrievable_and_a_new_version_replaces_it(kb: Kb) -> None:
    v1 = kb.put("cardiology/warfarin.txt", WARFARIN_V1, Metadata={"title": "Warfarin protocol"})
    assert kb.drain() == {"ingested": 1}
    assert any("2.0 and 3.0" in t for t in kb.texts("warfarin INR range"))
    v2 = kb.put("cardiology/warfarin.txt", WARFARIN_V2, Metadata={"title": "Warfarin protocol"})
    assert kb.drain() == {"replaced": 1}
    texts = kb.texts("warfarin INR range")
    assert any("2.5 and 3.5" in t for t in texts) and not any("2.0 and 3.0" in t for t in texts)
    actor = f"sync:s3:{BUCKET}"
    events = kb.events()
    assert [e[:4] for e in events] == [
        (actor, "sync", "ok", "cardiology"),
        (actor, "sync", "replaced", "cardiology"),
    ]
    assert events[0][5] == f"s3://{BUCKET}/cardiology/warfarin.txt?versionId={v1}"
    assert events[1][5] == f"s3://{BUCKET}/cardiology/warfarin.txt?versionId={v2}"
    assert len(events[1][4]) == 2  # the new document, then the one it superseded


def test_duplicate_and_reordered_events_change_nothing(kb: Kb) -> None:
    kb.put("cardiology/warfarin.txt", WARFARIN_V1)
    first = kb.sqs.receive_message(QueueUrl=kb.queue, MaxNumberOfMessages=10)["Messages"]
    stale = next(m["Body"] for m in first if "Records" in m["Body"])  # the v1 event, kept to deliver late
    for message in first:
        kb.sqs.delete_message(QueueUrl=kb.queue, ReceiptHandle=message["ReceiptHandle"])
    for _ in range(2):  # at-least-once: the same event twice
        kb.sqs.send_message(QueueUrl=kb.queue, MessageBody=stale)
    kb.put("cardiology/warfarin.txt", WARFARIN_V2)
    assert kb.drain() == {"ingested": 1, "unchanged": 2}  # three events for the key: one ingestion, of v2
    kb.sqs.send_message(QueueUrl=kb.queue, MessageBody=stale)  # the v1 event arrives after v2's
    assert kb.drain() == {"unchanged": 1}
    # As AWS sends it (moto's records lack it): the version id in the record. The store holds v2: nothing to read.
    current = kb.s3.head_object(Bucket=BUCKET, Key="cardiology/warfarin.txt")["VersionId"]
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": BUCKET},
              "object": {"key": "cardiology/warfarin.txt", "versionId": current}}}  # fmt: skip
    kb.sqs.send_message(QueueUrl=kb.queue, MessageBody=json.dumps({"Records": [record]}))
    assert kb.drain() == {"unchanged": 1}
    texts = kb.texts("warfarin INR range")
    assert any("2.5 and 3.5" in t for t in texts) and not any("2.0 and 3.0" in t for t in texts)
    outcomes = [e[2] for e in kb.events()]
    # One ingestion. Two deliveries handled at once may both read v2: the second finds it stored (unchanged).
    assert outcomes.count("ok") == 1 and set(outcomes) <= {"ok", "unchanged"}


def test_two_syncers_racing_on_a_key_end_on_its_newest_version(kb: Kb) -> None:
    """Two services (threads, processes or hosts) sync one key at once. A reads v1; before A stores it, v2 is put
    and B syncs it. Unless B waits for A's turn on the key, B stores v2 first and A then stores the older v1 over
    it, and nothing would ever correct it (v2's event is spent)."""
    kb.put("cardiology/warfarin.txt", WARFARIN_V1)
    kb.lose_events()
    read, go_on = threading.Event(), threading.Event()

    class Slow:  # A's S3 client: returns the object it read, but only once told to
        def __init__(self, s3: Any) -> None:
            self.s3, self.exceptions = s3, s3.exceptions

        def get_object(self, **kwargs: Any) -> Any:
            got = self.s3.get_object(**kwargs)
            read.set()
            go_on.wait(timeout=30)
            return got

        def __getattr__(self, name: str) -> Any:
            return getattr(self.s3, name)

    a = Syncer(Slow(kb.s3), connector(kb.database), kb.embedder, BUCKET, SYNC_GROUPS, 2_000_000)
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(a=a.sync_key("cardiology/warfarin.txt")))
    first.start()
    assert read.wait(timeout=30)
    v2 = kb.put("cardiology/warfarin.txt", WARFARIN_V2)
    second = threading.Thread(target=lambda: results.update(b=kb.syncer.sync_key("cardiology/warfarin.txt", v2)))
    second.start()
    with psycopg.connect(kb.database(None), autocommit=True) as watcher:  # until B is done or waits for a lock
        for _ in range(600):
            waiting = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if "b" in results or (waiting.fetchone() or (0,))[0]:
                break
            time.sleep(0.05)
    go_on.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert (results["a"].action, results["b"].action, results["b"].version) == ("ingested", "replaced", v2)
    texts = kb.texts("warfarin INR range")
    assert any("2.5 and 3.5" in t for t in texts) and not any("2.0 and 3.0" in t for t in texts)


def test_a_removed_object_is_removed_from_the_knowledge_base(kb: Kb) -> None:
    kb.put("cardiology/old policy.txt", WARFARIN_V1)
    kb.drain()
    kb.s3.delete_object(Bucket=BUCKET, Key="cardiology/old policy.txt")  # a delete marker; moto sends no event
    assert kb.waiting() == 0
    kb.sqs.send_message(QueueUrl=kb.queue, MessageBody=removal_event("cardiology/old policy.txt"))
    assert kb.drain() == {"removed": 1}
    assert kb.texts("warfarin INR range") == []
    assert kb.events()[-1][2:4] == ("removed", "cardiology")
    assert kb.events()[-1][5] == f"s3://{BUCKET}/cardiology/old%20policy.txt"


def test_an_unreadable_document_is_dead_lettered_and_never_blocks_the_queue(
    kb: Kb, caplog: pytest.LogCaptureFixture
) -> None:
    kb.put("cardiology/scan.pdf", b"%PDF-1.4 not really a pdf: patient Jane Roe")
    kb.put("cardiology/warfarin.txt", WARFARIN_V1)
    kb.put("billing/invoice.txt", "Invoice 12")  # a collection the sync service may not write to
    kb.put("loose-file.txt", "no collection prefix")
    kb.put("billing", "a key named like a collection, with no file under it")
    assert kb.drain() == {"ingested": 1, "failed": 4}
    dead = kb.dead()
    assert sorted(d["key"] for d in dead) == ["billing", "billing/invoice.txt", "cardiology/scan.pdf", "loose-file.txt"]
    assert all("error" in d and "Invoice" not in d["error"] for d in dead)
    outcomes = {(e[2], e[5].split("?")[0]) for e in kb.events()}
    assert ("refused", f"s3://{BUCKET}/cardiology/scan.pdf") in outcomes
    assert ("denied", f"s3://{BUCKET}/billing/invoice.txt") in outcomes
    assert ("refused", f"s3://{BUCKET}/loose-file.txt") in outcomes
    assert any("2.0 and 3.0" in t for t in kb.texts("warfarin INR range"))
    assert "Jane Roe" not in caplog.text and "Invoice 12" not in caplog.text and "sync refused" in caplog.text


def test_a_version_that_cannot_be_read_takes_the_superseded_text_out(kb: Kb) -> None:
    """The bucket says the policy changed; its new version is unreadable. Answers must not keep citing the
    superseded text as if it were current."""
    kb.put("cardiology/warfarin.pdf", tiny_pdf([WARFARIN_V1]))
    kb.drain()
    assert kb.texts("warfarin INR range")
    kb.put("cardiology/warfarin.pdf", b"%PDF-1.4 truncated upload")
    assert kb.drain() == {"failed": 1}
    assert kb.texts("warfarin INR range") == []
    failed = kb.events()[-1]
    assert failed[2] == "refused" and len(failed[4]) == 1  # names the superseded document it removed


def test_our_own_failure_leaves_the_event_for_redelivery(kb: Kb) -> None:
    class Down:
        dimensions = 384

        def embed(self, texts: list[str]) -> list[list[float]]:
            raise EngineUnavailable("The embeddings engine is unreachable.")

    healthy = kb.syncer.embedder
    kb.syncer.embedder = Down()
    kb.sqs.set_queue_attributes(QueueUrl=kb.queue, Attributes={"VisibilityTimeout": "1"})
    kb.put("cardiology/warfarin.txt", WARFARIN_V1)
    kb.worker.poll()
    assert kb.waiting() == 1 and kb.dead() == []  # in flight: neither lost nor dead-lettered
    assert kb.events() == []  # nothing happened, so nothing is on record
    kb.syncer.embedder = healthy
    time.sleep(1.2)  # SQS makes it visible again after the visibility timeout
    assert kb.drain() == {"ingested": 1}


def test_a_message_that_is_not_an_s3_event_is_dead_lettered(kb: Kb) -> None:
    kb.sqs.send_message(QueueUrl=kb.queue, MessageBody="{not json")
    kb.sqs.send_message(QueueUrl=kb.queue, MessageBody=json.dumps({"Records": [{"s3": {"bucket": {"name": "x"}}}]}))
    assert kb.drain() == {"failed": 2}
    assert len(kb.dead()) == 2 and [e[2] for e in kb.events()] == ["refused", "refused"]


def test_reconcile_repairs_missed_events_and_deleted_objects(kb: Kb) -> None:
    kb.put("cardiology/warfarin.txt", WARFARIN_V1)
    kb.put("cardiology/heparin.txt", "Heparin infusions are titrated to the aPTT.")
    kb.lose_events()  # the events were lost (or the database was restored from a backup)
    first = kb.syncer.reconcile()
    assert first.counts == {"ingested": 2}
    kb.s3.delete_object(Bucket=BUCKET, Key="cardiology/heparin.txt")
    kb.put("cardiology/warfarin.txt", WARFARIN_V2)
    kb.lose_events()
    second = kb.syncer.reconcile()
    assert second.counts == {"removed": 1, "replaced": 1}
    assert kb.syncer.reconcile().counts == {"unchanged": 1}  # converged: nothing left to do
    assert not any("aPTT" in t for t in kb.texts("heparin aPTT"))


def test_the_event_plumbing_parses_what_s3_sends() -> None:
    body = json.dumps(
        {"Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": "cardiology%2Fa+b%C3%A9.pdf"}}}]}
    )
    assert keys_in(body, BUCKET) == [("cardiology/a bé.pdf", None)]
    created = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": "c/a", "versionId": "v7"}},
    }
    removed = {**created, "eventName": "ObjectRemoved:DeleteMarkerCreated"}
    assert keys_in(json.dumps({"Records": [created, removed]}), BUCKET) == [("c/a", "v7"), ("c/a", None)]
    assert keys_in(json.dumps({"Event": "s3:TestEvent", "Bucket": BUCKET}), BUCKET) == []
    assert collection_of("cardiology/sub/dir/file.pdf") == "cardiology"
    for bad in ("file.pdf", "Cardiology/x.pdf", "cardiology/", "../x"):
        with pytest.raises(Exception, match="collection"):
            collection_of(bad)
    assert media_type_of("a/b.PDF", "binary/octet-stream") == "application/pdf"
    assert media_type_of("a/b.bin", "text/markdown; charset=utf-8") == "text/markdown"
    assert object_ref(BUCKET, "a/b c?.pdf", "v/1") == f"s3://{BUCKET}/a/b%20c%3F.pdf?versionId=v%2F1"


def test_the_reconcile_command_reports_and_exits_by_outcome(
    kb: Kb, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stack.cli import main

    kb.put("cardiology/warfarin.txt", WARFARIN_V1)
    kb.lose_events()
    for name in ("QUEUE_URL", "DEAD_LETTER_QUEUE_URL", "ENDPOINT_URL", "EMBEDDINGS_URL"):
        monkeypatch.delenv(f"PHISTACK_SYNC_{name}", raising=False)
    monkeypatch.setenv("PHISTACK_SYNC_DATABASE_DSN", kb.database("phistack_app"))
    monkeypatch.setenv("PHISTACK_SYNC_BUCKET", BUCKET)
    monkeypatch.setenv("PHISTACK_SYNC_REGION", "us-east-1")
    assert main(["sync", "reconcile"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ingested  cardiology/warfarin.txt",
        f"reconciled s3://{BUCKET}: 1 ingested, 0 replaced, 0 removed, 0 unchanged, 0 failed",
    ]
    kb.put("cardiology/broken.pdf", b"%PDF-1.4 broken")
    assert main(["sync", "reconcile"]) == 3  # a document could not be synced: incomplete
    out = capsys.readouterr().out
    assert "failed    cardiology/broken.pdf: The body is not a readable PDF" in out
    assert main(["sync", "run"]) == 2  # no queue named
    assert capsys.readouterr().err.startswith("phistack-gateway: error: PHISTACK_SYNC_QUEUE_URL")
    monkeypatch.setenv("PHISTACK_SYNC_BUCKET", "Not A Bucket")
    assert main(["sync", "reconcile"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("phistack-gateway: error: PHISTACK_SYNC_BUCKET:") and err.count("\n") == 1
