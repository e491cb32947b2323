"""The document bucket is the knowledge base's source of truth: S3 events on it arrive in an SQS queue, and the
sync service makes the vector store match the bucket, key by key.

Layout: an object's first path segment names its collection (``cardiology/warfarin-protocol.pdf`` goes to the
collection ``cardiology``), which must grant the sync service's groups write access. The document's title is the
object's ``title`` metadata (``x-amz-meta-title``) when set, else its file name.

An event is only a hint that a key changed. For each key the service reads the object's *current* state from
S3 (one get_object, the key claimed meanwhile) and ingests, replaces or removes the document to match it, so
duplicates, reordering, events without a version id and missed events all end the same way; the object's version
id makes a repeat cheap (no download). A document that cannot be read (malformed, too large, a collection that
is not there) is audited as a failed sync and its event goes to the dead-letter queue, never blocking the queue;
a failure of our own (the database or embedder unreachable) leaves the message for SQS to deliver again, and SQS
moves it to the dead-letter queue after its receive limit. ``reconcile`` lists the bucket and repairs drift both ways.

No document content is ever logged or put in an audit event: events name the bucket, key and version."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote_plus

import psycopg

from stack.audit import Outcome
from stack.auth import Principal
from stack.db import Connect
from stack.embeddings import Embedder
from stack.errors import GatewayError
from stack.extract import MEDIA_TYPES, MalformedDocument, UnsupportedMediaType, extract
from stack.gateway import Audit, record_ingest
from stack.store import NotFound, Source, claimed, ingest, remove_source, sources_under, stored_version

log = logging.getLogger(__name__)
COLLECTION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_MESSAGE_BYTES = 262_144  # SQS's own limit: a larger body is not an S3 event
SUFFIXES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class SyncRefused(GatewayError):
    """An object the knowledge base cannot take (permanent: retrying will not help); its event is dead-lettered."""

    def __init__(self, message: str, outcome: Outcome = Outcome.REFUSED) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class Synced:
    """What one key's sync did: ingested, replaced, removed, unchanged (nothing to do) or failed."""

    key: str
    action: str
    version: str | None = None
    error: str | None = None


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, result: Synced) -> None:
        with self.lock:
            self.counts[result.action] = self.counts.get(result.action, 0) + 1

    def __str__(self) -> str:
        order = ("ingested", "replaced", "removed", "unchanged", "failed")
        return ", ".join(f"{self.counts.get(name, 0)} {name}" for name in order)


def collection_of(key: str) -> str:
    """The collection an object belongs to: its key's first path segment."""
    head, sep, rest = key.partition("/")
    if not sep or not rest or not COLLECTION.match(head):
        raise SyncRefused(
            "The key does not start with a collection id and '/' (layout: <collection>/<file>).", Outcome.REFUSED
        )
    return head


def media_type_of(key: str, declared: str | None) -> str:
    """The object's Content-Type when it is one we index, else its file name's suffix decides."""
    kind = (declared or "").split(";", 1)[0].strip().lower()
    if kind in MEDIA_TYPES:
        return kind
    return SUFFIXES.get(PurePosixPath(key).suffix.lower(), kind or "application/octet-stream")


def object_ref(bucket: str, key: str, version: str | None) -> str:
    """How an audit event names an object: s3://bucket/key?versionId=..., the key percent-encoded."""
    ref = f"s3://{bucket}/{quote(key, safe='/')}"
    return f"{ref}?versionId={quote(version, safe='')}" if version else ref


def keys_in(body: str, bucket: str) -> list[tuple[str, str | None]]:
    """The (key, version id or None) an SQS message's S3 event records name (none for s3:TestEvent).
    SyncRefused for a message that is not an S3 event for our bucket."""
    if len(body.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise SyncRefused("The message is larger than any S3 event.")
    try:
        event = json.loads(body)
    except ValueError:
        raise SyncRefused("The message is not JSON (not an S3 event).") from None
    if not isinstance(event, dict):
        raise SyncRefused("The message is not an S3 event.")
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise SyncRefused("The message has no S3 event records.")
    keys = []
    for record in records:
        try:
            named, key = record["s3"]["bucket"]["name"], unquote_plus(str(record["s3"]["object"]["key"]))
            version = record["s3"]["object"].get("versionId")
        except (KeyError, TypeError, AttributeError):
            raise SyncRefused("An event record names no bucket and key.") from None
        if named != bucket:
            raise SyncRefused(f"An event record is for bucket {str(named)[:63]!r}, not the document bucket.")
        # A removal's version is the delete marker's or the deleted version's: never one to keep.
        created = str(record.get("eventName", "")).startswith("ObjectCreated")
        keys.append((key, str(version) if version and created else None))
    return keys


class Syncer:
    """Makes the knowledge base match the document bucket, one key at a time (see the module's docstring)."""

    def __init__(
        self,
        s3: Any,
        connect: Connect,
        embedder: Embedder,
        bucket: str,
        groups: tuple[str, ...],
        max_document_bytes: int,
        extractor: Callable[[bytes, str], Any] = extract,
    ) -> None:
        self.s3, self.connect, self.embedder, self.bucket = s3, connect, embedder, bucket
        self.principal = Principal(f"sync:s3:{bucket}", groups, "service")
        self.max_bytes, self.extract = max_document_bytes, extractor

    def sync_key(self, key: str, hinted: str | None = None) -> Synced:
        """Bring one key's document in line with the object now in the bucket. ``hinted``: the version id an
        event named, if any (when the store already holds it, nothing is read from S3). SyncRefused (audited) when
        it cannot be; other exceptions (database, embedder, S3 unreachable) are ours and propagate for a retry.

        The key is claimed in the database (store.claimed) from before its object is read until the document is
        stored: syncers on any thread or host take their turns, each reads the object current at its turn, and
        every put has an event read after it, so the last turn stores the newest version: no re-read is needed."""
        audit = Audit(self.principal, "sync")
        with self.connect() as conn:
            try:
                collection = collection_of(key)
            except SyncRefused as exc:
                self._failed(conn, key, None, exc, audit)
                raise
            with claimed(conn, collection, Source.s3(self.bucket, key, None)):
                try:
                    return self._once(conn, key, collection, hinted, audit)
                except SyncRefused as exc:
                    self._failed(conn, key, collection, exc, audit)
                    raise

    @staticmethod
    def _version(response: dict[str, Any]) -> str:
        # A versioned bucket (ours) names each version; an unversioned one only its content's ETag.
        return str(response.get("VersionId") or f"etag:{str(response.get('ETag', '')).strip(chr(34))}")

    def _gone(self, exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        return code in ("404", "NoSuchKey", "405", "MethodNotAllowed")  # gone, or a delete marker is current

    def _once(
        self, conn: psycopg.Connection[Any], key: str, collection: str, hinted: str | None, audit: Audit
    ) -> Synced:
        try:  # authorization before any work on the object
            stored = stored_version(conn, self.principal.groups, collection, Source.s3(self.bucket, key, None))
        except NotFound:
            raise SyncRefused(
                f"No collection {collection!r} that the sync service may write to.", Outcome.DENIED
            ) from None
        if hinted is not None and hinted == stored:
            return Synced(key, "unchanged", stored)
        try:  # the current version, in one request: its id, size, type, metadata and body
            got = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as exc:
            if self._gone(exc):
                return self._remove(conn, key, collection, audit)
            raise
        version, body = self._version(got), got["Body"]
        if version == stored:
            body.close()
            return Synced(key, "unchanged", version)
        if int(got.get("ContentLength", 0)) > self.max_bytes:
            body.close()
            raise SyncRefused(f"The object is over {self.max_bytes} bytes.")
        data = body.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise SyncRefused(f"The object is over {self.max_bytes} bytes.")
        media_type = media_type_of(key, got.get("ContentType"))
        try:
            document = self.extract(data, media_type)
        except (MalformedDocument, UnsupportedMediaType) as exc:
            raise SyncRefused(str(exc)) from None
        title = str((got.get("Metadata") or {}).get("title") or PurePosixPath(key).name)[:300]
        source = Source.s3(self.bucket, key, version)
        result = ingest(conn, self.embedder, self.principal.groups, collection, title, document, media_type, source)
        with conn.transaction():
            record_ingest(audit, conn, collection, result, object_ref(self.bucket, key, version))
        action = "unchanged" if not result.created else "replaced" if result.superseded else "ingested"
        return Synced(key, action, version)

    def _remove(self, conn: psycopg.Connection[Any], key: str, collection: str, audit: Audit) -> Synced:
        with conn.transaction():
            removed = remove_source(conn, self.principal.groups, collection, Source.s3(self.bucket, key, None))
            if removed is None:
                return Synced(key, "unchanged")
            audit.record(
                conn, Outcome.REMOVED, collection, [removed[0]], removed[1], source=object_ref(self.bucket, key, None)
            )
        return Synced(key, "removed")

    def _failed(
        self, conn: psycopg.Connection[Any], key: str, collection: str | None, exc: SyncRefused, audit: Audit
    ) -> None:
        """A failed event naming the object; the superseded text of a key that no longer reads is removed too, so
        no answer cites a version the bucket has replaced. (collection None: the key is outside the layout, and
        no collection holds anything from it.)"""
        version = None
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
            version = self._version(head)
        except Exception as error:  # noqa: BLE001 - the refusal is what is reported; S3 may be the cause
            if not self._gone(error):  # gone: the refusal names the key without a version
                log.warning("could not read the version of a refused object (%s)", error.__class__.__name__)
        with conn.transaction():
            removed = None
            if collection is not None and exc.outcome is not Outcome.DENIED:
                try:
                    removed = remove_source(conn, self.principal.groups, collection, Source.s3(self.bucket, key, None))
                except NotFound:
                    removed = None
            audit.record(
                conn,
                exc.outcome,
                collection,
                [removed[0]] if removed else [],
                removed[1] if removed else (),
                source=object_ref(self.bucket, key, version),
            )
        log.warning("sync refused an object: %s", exc)  # our own one-line message: names no content

    def keys(self) -> Iterator[str]:
        """Every key now in the bucket (its current versions; delete markers excluded)."""
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", ()):
                yield str(item["Key"])

    def stored_keys(self) -> set[str]:
        """The keys of the documents the store holds from this bucket, in the collections the service may write."""
        prefix = f"s3://{self.bucket}/"
        with self.connect() as conn:
            return {source.removeprefix(prefix) for source in sources_under(conn, self.principal.groups, prefix)}

    def reconcile(self, on_result: Callable[[Synced], None] = lambda _: None) -> Tally:
        """List the bucket and sync every key it holds or the store holds: missed events, deleted objects and
        versions changed behind our back are all repaired. Safe to run at any time, and after a restore."""
        tally = Tally()
        for key in sorted(set(self.keys()) | self.stored_keys()):
            try:
                result = self.sync_key(key)
            except SyncRefused as exc:
                result = Synced(key, "failed", error=str(exc))
            tally.add(result)
            on_result(result)
        return tally


class QueueWorker:
    """Consumes the bucket's event queue: each message's keys are synced; the message is deleted when every key is
    settled (a refused key's record goes to the dead-letter queue first), and left for redelivery otherwise."""

    def __init__(
        self, syncer: Syncer, sqs: Any, queue_url: str, dead_letter_url: str, wait_s: int = 20, concurrency: int = 2
    ) -> None:
        self.syncer, self.sqs, self.queue_url, self.dead_letter_url = syncer, sqs, queue_url, dead_letter_url
        self.wait_s, self.concurrency = wait_s, concurrency

    def poll(self) -> Tally:
        """One receive (long poll, up to 10 messages) and their processing, in order."""
        tally = Tally()
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_s
        )
        messages = received.get("Messages", [])
        settled = [
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(messages)
            if self._handle(message, tally)
        ]
        if settled:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=settled)
        return tally

    def _handle(self, message: dict[str, Any], tally: Tally) -> bool:
        try:
            keys = keys_in(str(message.get("Body", "")), self.syncer.bucket)
        except SyncRefused as exc:
            self._dead_letter({"error": str(exc), "message_id": message.get("MessageId")})
            self._audit_unreadable_message(exc)
            tally.add(Synced("", "failed", error=str(exc)))
            return True
        for key, hinted in dict.fromkeys(keys):  # a key named twice in one message is synced once
            try:
                tally.add(self.syncer.sync_key(key, hinted))
            except SyncRefused as exc:
                self._dead_letter({"error": str(exc), "bucket": self.syncer.bucket, "key": key})
                tally.add(Synced(key, "failed", error=str(exc)))
            except Exception as exc:  # noqa: BLE001 - ours (database, embedder, S3): SQS delivers it again
                log.error("sync of an object failed; the event will be retried (%s)", exc.__class__.__name__)  # noqa: TRY400
                return False
        return True

    def _dead_letter(self, body: dict[str, Any]) -> None:
        self.sqs.send_message(QueueUrl=self.dead_letter_url, MessageBody=json.dumps(body))

    def _audit_unreadable_message(self, exc: SyncRefused) -> None:
        audit = Audit(self.syncer.principal, "sync")
        with self.syncer.connect() as conn, conn.transaction():
            audit.record(conn, Outcome.REFUSED, source=f"s3://{self.syncer.bucket}/")
        log.warning("sync refused a message: %s", exc)

    def run(self, stop: Callable[[], bool] = lambda: False, on_tally: Callable[[Tally], None] = lambda _: None) -> None:
        """`concurrency` consumers, each polling until stop() says so, so one document's S3 and database round
        trips overlap another's embedding. Two messages for one key are safe together: they take turns on the
        key (store.claimed), and each stores the version current at its turn. A failure to reach SQS waits and
        tries again."""
        consumers = [
            threading.Thread(target=self._consume, args=(stop, on_tally), name=f"sync-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for consumer in consumers:
            consumer.start()
        for consumer in consumers:
            consumer.join()

    def _consume(self, stop: Callable[[], bool], on_tally: Callable[[Tally], None]) -> None:
        backoff = 1.0
        while not stop():
            try:
                on_tally(self.poll())
                backoff = 1.0
            except Exception as exc:  # noqa: BLE001 - keep serving: SQS or the VPC endpoint may be back soon
                log.error(
                    "cannot receive from the event queue (%s); retrying in %.0f s", exc.__class__.__name__, backoff
                )  # noqa: TRY400
                time.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
