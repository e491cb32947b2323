"""Anchors: the audit chain's head, signed with a key the database never sees, kept where nobody can delete it.

The hash chain finds an edited, deleted or reordered event, but a database superuser (or a restored old backup)
can rewrite the whole chain consistently. An anchor is the head of the chain at one moment (sequence number and
hash), signed by the gateway host with its own Ed25519 key and written once to the stack's Object-Locked audit
archive (COMPLIANCE mode: nobody, root included, deletes or overwrites it before its retention ends). Verifying
against the anchors then finds any rewrite of what was anchored: every anchored head must still be the event at
that sequence number. Each host numbers its anchors 1, 2, 3 ... so an anchor that went missing is a gap.

Layout under the store's prefix: ``<host>/<number, 12 digits>.json`` and ``<host>/keys/<key id>.pub.pem`` (the
public key, written once next to its first anchor). Several gateway hosts on one Aurora database anchor the one
chain, each under its own name.

A deliberate restore (an older backup, a point in time) takes the trail back, and the anchors taken since then
rightly no longer match. The host acknowledges it with a restore anchor: an anchor like the others (the restored
head, signed, numbered, written once) that also names every anchor it supersedes (each host's last number when it
was written) and why. An anchor that a later restore anchor supersedes and that the trail no longer holds is
reported as replaced by that restore, not as a contradiction; whatever it does not supersede must still match.
The restore stays in the record for the auditor: when, by which host, why, and from which event on.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stack.audit import GENESIS, verify_rows
from stack.errors import AuditChainBroken, GatewayError

SCHEMA = "phistack/audit-anchor/v1"
MAX_OBJECT_BYTES = 8192  # an anchor is about 400 bytes, a restore anchor up to about 3 KiB: larger is not one
MAX_REASON = 300  # characters of a restore anchor's reason
MAX_SUPERSEDED_HOSTS = 64  # hosts a restore anchor names (a stack has a handful of gateway hosts)
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_ANCHOR_NAME = re.compile(r"(?P<host>[^/]+)/(?P<number>\d{12})\.json")
_KEY_NAME = re.compile(r"(?P<host>[^/]+)/keys/(?P<key_id>[0-9a-f]{64})\.pub\.pem")


class AnchorError(GatewayError):
    """An anchor could not be written, or one that was read is not a valid signed anchor."""


@dataclass(frozen=True)
class Anchor:
    host: str  # the gateway host that anchored
    number: int  # this host's n-th anchor, from 1 without gaps
    seq: int  # the chain's last event when anchored (0: the chain was empty)
    hash: str  # that event's hash (GENESIS for an empty chain)
    at: str  # when, ISO 8601 UTC
    key_id: str  # SHA-256 of the raw public key that signs
    # A restore anchor only: why the trail was taken back, and each host's last anchor number it supersedes.
    reason: str | None = None
    supersedes: dict[str, int] | None = None

    def payload(self) -> bytes:
        """The signed bytes: the fields that are set as canonical JSON (sorted keys, no spaces), with the schema."""
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps({"schema": SCHEMA, **fields}, sort_keys=True, separators=(",", ":")).encode()

    def covers(self, other: Anchor) -> bool:
        """Whether this restore anchor supersedes ``other`` (an anchor written before it)."""
        return self.supersedes is not None and other is not self and self.supersedes.get(other.host, 0) >= other.number

    @property
    def name(self) -> str:
        return f"{self.host}/{self.number:012d}.json"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AnchorError(f"{path}: not a readable Ed25519 private key (PEM): {exc.__class__.__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorError(f"{path}: the anchor key must be Ed25519")
    return key


def create_private_key(path: Path) -> Ed25519PublicKey:
    """A new anchor key, readable by its owner only; refuses to replace one (anchors already signed need it)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AnchorError(f"{path}: exists; an anchor key is never replaced in place") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key.public_key()


def sign(anchor: Anchor, key: Ed25519PrivateKey) -> bytes:
    """The anchor object: its fields and the signature over ``payload()``."""
    document = json.loads(anchor.payload())
    document["signature"] = base64.b64encode(key.sign(anchor.payload())).decode()
    return json.dumps(document, indent=1).encode() + b"\n"


def parse(body: bytes, where: str, keys: dict[str, Ed25519PublicKey]) -> Anchor:
    """A signed anchor, checked: its schema, fields and signature (with the key its key_id names)."""
    if len(body) > MAX_OBJECT_BYTES:
        raise AnchorError(f"{where}: {len(body)} bytes is not an anchor")
    try:
        document = json.loads(body)
        signature = base64.b64decode(document.pop("signature"), validate=True)
        if document.pop("schema") != SCHEMA:
            raise ValueError("schema")
        anchor = Anchor(**document)
        if not (
            isinstance(anchor.seq, int)
            and isinstance(anchor.number, int)
            and re.fullmatch(r"[0-9a-f]{64}", anchor.hash)
            and isinstance(anchor.at, str)
            and dt.datetime.fromisoformat(anchor.at).tzinfo is not None  # the auditor's report compares times
            and _valid_restore(anchor.reason, anchor.supersedes)
        ):
            raise ValueError("fields")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise AnchorError(f"{where}: not a {SCHEMA} document") from None
    public = keys.get(anchor.key_id)
    if public is None:
        raise AnchorError(f"{where}: signed by key {anchor.key_id[:16]}..., which is not a known anchor key")
    try:
        public.verify(signature, anchor.payload())
    except InvalidSignature:
        raise AnchorError(f"{where}: the signature does not verify (the anchor was altered)") from None
    return anchor


def _valid_restore(reason: object, supersedes: object) -> bool:
    if reason is None and supersedes is None:
        return True
    return (
        isinstance(reason, str)
        and 0 < len(reason) <= MAX_REASON
        and isinstance(supersedes, dict)
        and len(supersedes) <= MAX_SUPERSEDED_HOSTS
        and all(isinstance(h, str) and HOST.fullmatch(h) and isinstance(n, int) for h, n in supersedes.items())
    )


class AnchorStore(Protocol):
    """Where anchors are kept: write-once objects under names, and a listing."""

    def put_new(self, name: str, body: bytes) -> bool:
        """Write ``name`` unless it exists; True if written, False if it was already there."""

    def names(self) -> Iterator[str]:
        """Every object's name, relative to the prefix."""

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every object (name relative to the prefix, at most MAX_OBJECT_BYTES + 1 bytes of it)."""

    def rewritten(self) -> list[str]:
        """Names written more than once."""


class DirectoryStore:
    """A local folder (tests, the dev gateway): O_EXCL makes every object write-once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_new(self, name: str, body: bytes) -> bool:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        return True

    def names(self) -> Iterator[str]:
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            yield path.relative_to(self.root).as_posix()

    def items(self) -> Iterator[tuple[str, bytes]]:
        for name in self.names():
            with (self.root / name).open("rb") as handle:
                yield name, handle.read(MAX_OBJECT_BYTES + 1)

    def rewritten(self) -> list[str]:
        return []  # O_EXCL: a name is written once


class S3Store:
    """The audit archive bucket (Object Lock, COMPLIANCE, default retention): ``If-None-Match: *`` makes a put of
    an existing name fail instead of adding a version; the host's role may put under the prefix, never delete."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put_new(self, name: str, body: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=body, IfNoneMatch="*", ContentType="application/json"
            )
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise AnchorError(f"s3://{self.bucket}/{self._key(name)}: {exc.response['Error'].get('Code')}") from None
        return True

    def _versions(self) -> dict[str, list[dict[str, Any]]]:
        """Every version of every object under the prefix, oldest first, by name."""
        start = f"{self.prefix}/" if self.prefix else ""
        found: dict[str, list[dict[str, Any]]] = {}
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=start):
            for entry in page.get("Versions", []):
                found.setdefault(entry["Key"][len(start) :], []).append(entry)
        # Oldest first; within one second (the listing's resolution) the latest version is the newest.
        return {
            name: sorted(v, key=lambda e: (e["LastModified"], bool(e.get("IsLatest")))) for name, v in found.items()
        }

    def names(self) -> Iterator[str]:
        yield from self._versions()

    def items(self) -> Iterator[tuple[str, bytes]]:
        """The first version of each name: what was anchored, which Object Lock keeps whatever came after."""
        for name, versions in self._versions().items():
            body = self.client.get_object(
                Bucket=self.bucket, Key=self._key(name), VersionId=versions[0]["VersionId"],
                Range=f"bytes=0-{MAX_OBJECT_BYTES}",
            )  # fmt: skip
            yield name, body["Body"].read()

    def rewritten(self) -> list[str]:
        """Names written more than once (the bucket policy refuses that; a later version is never trusted)."""
        return sorted(name for name, versions in self._versions().items() if len(versions) > 1)


def store_for(where: str) -> AnchorStore:
    """``s3://bucket/prefix`` (through the S3 endpoint, the host's role) or a local folder."""
    if where.startswith("s3://"):
        import boto3

        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        return S3Store(boto3.client("s3"), bucket, prefix)
    return DirectoryStore(Path(where))


def chain_head(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def last_numbers(store: AnchorStore) -> dict[str, int]:
    """Each host's highest anchor number in the store."""
    found: dict[str, int] = {}
    for name in store.names():
        if (m := _ANCHOR_NAME.fullmatch(name)) is not None:
            found[m["host"]] = max(found.get(m["host"], 0), int(m["number"]))
    return found


def request_error(host: str, restore: str | None) -> str | None:
    """What is wrong with an anchor's host name or restore reason, as the command line names it; None if nothing."""
    if not HOST.fullmatch(host):
        return f"--host {host!r}: letters, digits, '.', '_' and '-' only, at most 63"
    if restore is not None and not 0 < len(restore.strip()) <= MAX_REASON:
        return f"--restore: the reason must be 1 to {MAX_REASON} characters"
    return None


def anchor(
    conn: psycopg.Connection[Any], store: AnchorStore, host: str, key: Ed25519PrivateKey, restore: str | None = None
) -> Anchor:
    """Sign and store the chain's head now (as a role that may read audit_events: the auditor's). With
    ``restore`` (why), a restore anchor: it supersedes every anchor in the store, of every host, so far."""
    if (wrong := request_error(host, restore)) is not None:
        raise AnchorError(wrong)
    public = key.public_key()
    kid = key_id(public)
    store.put_new(f"{host}/keys/{kid}.pub.pem", public_pem(public))
    seq, digest = chain_head(conn)
    at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    for _ in range(5):  # two runs at once (a timer and a shutdown): the later one takes the next number
        numbers = last_numbers(store)
        if len(numbers) > MAX_SUPERSEDED_HOSTS:
            raise AnchorError(f"the store holds anchors of {len(numbers)} hosts; a restore names at most "
                              f"{MAX_SUPERSEDED_HOSTS}")  # fmt: skip
        made = Anchor(
            host=host, number=numbers.get(host, 0) + 1, seq=seq, hash=digest, at=at, key_id=kid,
            reason=restore.strip() if restore is not None else None,
            supersedes=numbers if restore is not None else None,
        )  # fmt: skip
        if store.put_new(made.name, sign(made, key)):
            return made
    raise AnchorError(f"anchor numbers for host {host} keep being taken: another writer is using this host name")


@dataclass
class AnchorSet:
    anchors: list[Anchor]  # every valid anchor, in chain order
    problems: list[str]  # anchors missing (a gap in a host's numbers) or not valid, each a sentence


def read_anchors(store: AnchorStore, trusted: Iterable[Ed25519PublicKey] = ()) -> AnchorSet:
    """Every anchor in the store, checked: signed by a known key (``trusted``, or else the keys stored beside
    them, which Object Lock keeps as first written), and numbered without gaps per host."""
    objects = dict(store.items())
    keys = {key_id(k): k for k in trusted}
    if not keys:
        for name, body in objects.items():
            if (m := _KEY_NAME.fullmatch(name)) is not None:
                try:
                    public = serialization.load_pem_public_key(body)
                except ValueError:
                    continue
                if isinstance(public, Ed25519PublicKey) and key_id(public) == m["key_id"]:
                    keys[m["key_id"]] = public
    anchors: list[Anchor] = []
    problems = [f"{name}: written more than once (the first version is the one read)" for name in store.rewritten()]
    for name, body in sorted(objects.items()):
        m = _ANCHOR_NAME.fullmatch(name)
        if m is None:
            continue
        try:
            found = parse(body, name, keys)
        except AnchorError as exc:
            problems.append(str(exc))
            continue
        if found.name != name:
            problems.append(f"{name}: holds anchor {found.name} (moved or copied)")
            continue
        anchors.append(found)
    by_host: dict[str, list[int]] = {}
    for a in anchors:
        by_host.setdefault(a.host, []).append(a.number)
    for host, numbers in sorted(by_host.items()):
        missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        if missing:
            problems.append(f"host {host}: anchors {', '.join(map(str, missing[:10]))} are missing (deleted)")
    anchors.sort(key=lambda a: (a.seq, a.host, a.number))
    return AnchorSet(anchors, problems)


@dataclass
class Restore:
    """A restore anchor, and what it accounts for: the anchors it supersedes that the trail no longer holds."""

    anchor: Anchor
    kept_to: int  # the last event of the trail before the restore still anchored unchanged (0: none was)
    replaced: list[Anchor]  # superseded anchors the trail no longer holds, in chain order

    def record(self) -> dict[str, Any]:
        a = self.anchor
        first = self.replaced[0].seq if self.replaced else None
        return {
            "host": a.host, "number": a.number, "at": a.at, "reason": a.reason, "kept_to_seq": self.kept_to,
            "replaced_anchors": len(self.replaced), "replaced_from_seq": first,
        }  # fmt: skip

    def sentence(self) -> str:
        a = self.anchor
        lost = (
            f"{len(self.replaced)} earlier anchors, from event {self.replaced[0].seq} on, replaced"
            if self.replaced
            else "no earlier anchor replaced"
        )
        return f"restore acknowledged by {a.host} at {a.at} ({a.reason}): {lost}"


@dataclass
class AnchoredVerification:
    events: int
    anchors: int
    last: Anchor | None  # the newest anchor (by time, then by position in the chain)
    restores: list[Restore] = field(default_factory=list)  # acknowledged restores, oldest first


def verify_against(conn: psycopg.Connection[Any], found: AnchorSet) -> AnchoredVerification:
    """The chain verified link by link, and every anchored head found in it unchanged, except those a restore
    anchor supersedes (reported with it). Raises AuditChainBroken naming the first anchor the database
    contradicts, or the anchors' own problems."""
    if found.problems:
        raise AuditChainBroken(f"The anchors are not intact: {found.problems[0]}.")
    pending = list(found.anchors)
    at_seq: dict[int, str] = {}
    wanted = {a.seq for a in pending}

    def remember(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            if row["seq"] in wanted:
                at_seq[row["seq"]] = row["hash"]
            yield row

    with conn.transaction(), conn.cursor(name="anchored_verify", row_factory=psycopg.rows.dict_row) as cursor:
        cursor.itersize = 5000
        cursor.execute("SELECT * FROM audit_events ORDER BY seq")
        try:
            count = verify_rows(remember(cursor))
        except AuditChainBroken as exc:
            contradicted = _first_contradiction(pending, at_seq, None)
            raise AuditChainBroken(f"{exc} {contradicted}" if contradicted else str(exc)) from None
    restores = [Restore(a, 0, []) for a in sorted(pending, key=lambda a: (a.at, a.seq)) if a.supersedes is not None]
    standing = []
    for a in pending:
        holds = a.seq == 0 or at_seq.get(a.seq) == a.hash
        covering = next((r for r in restores if r.anchor.covers(a)), None)
        if covering is None:
            standing.append(a)
        elif holds:
            covering.kept_to = max(covering.kept_to, a.seq)
        else:
            covering.replaced.append(a)
    contradicted = _first_contradiction(standing, at_seq, count)
    if contradicted:
        raise AuditChainBroken(contradicted)
    last = max(found.anchors, key=lambda a: (a.at, a.seq), default=None)
    return AnchoredVerification(count, len(found.anchors), last, restores)


def _first_contradiction(anchors: list[Anchor], at_seq: dict[int, str], length: int | None) -> str:
    for a in anchors:
        if a.seq == 0:
            continue
        actual = at_seq.get(a.seq)
        where = f"Anchor {a.number} of host {a.host} ({a.at}) names event {a.seq}"
        if actual is None and length is not None:
            return (
                f"{where}, but the trail ends at event {length}: events were removed (truncated, or an older "
                "backup restored)."
            )
        if actual is not None and actual != a.hash:
            return (
                f"{where} with hash {a.hash[:16]}...; the database's event {a.seq} has {actual[:16]}...: the trail "
                "was rewritten at or before it."
            )
    return ""


VERIFY_FORMAT = "phistack/audit-verify/v1"


@dataclass
class TrailCheck:
    """What ``audit verify`` found, as one record (``--json``, and the hosts' evidence for the auditor's report)."""

    outcome: str  # "intact", "broken" (the chain, the anchors or the shipped copy say so), "incomplete" (unread)
    events: int | None = None
    anchors: int | None = None
    last_anchor: dict[str, Any] | None = None  # {host, number, seq, at} of the newest anchor
    restores: list[dict[str, Any]] = field(default_factory=list)  # acknowledged restores (Restore.record)
    shipped: dict[str, int] | None = None  # {shipped, events, not_yet} when compared
    problems: list[str] = field(default_factory=list)  # each a sentence, the first break first

    def document(self) -> dict[str, Any]:
        return {"format": VERIFY_FORMAT, **asdict(self)}


def check_trail(
    connect: Callable[[], psycopg.Connection[Any]],
    anchors_at: AnchorStore | None = None,
    trusted: Iterable[Ed25519PublicKey] = (),
    shipped: Callable[[], Iterable[str]] | None = None,
) -> TrailCheck:
    """The chain; with ``anchors_at``, every anchored head; with ``shipped``, the shipped copy. Never raises for
    what it finds: a break is ``broken``, something that could not be read is ``incomplete``, each named."""
    from botocore.exceptions import BotoCoreError, ClientError

    from stack.audit import verify
    from stack.crosscheck import Lost, compare

    check = TrailCheck("intact")
    stage = "the anchors"
    restores: list[Restore] = []
    try:
        found = read_anchors(anchors_at, trusted) if anchors_at is not None else None
        if found is not None and not found.anchors and not found.problems:
            return TrailCheck("incomplete", problems=["no anchor found: nothing to verify the trail against"])
        stage = "the audit trail"
        with connect() as conn:
            if found is None:
                check.events = verify(conn)
            else:
                result = verify_against(conn, found)
                check.events, check.anchors = result.events, result.anchors
                restores = result.restores
                check.restores = [r.record() for r in restores]
                if result.last is not None:
                    last = result.last
                    check.last_anchor = {"host": last.host, "number": last.number, "seq": last.seq, "at": last.at}
            if shipped is not None:
                stage = "the shipped copy"
                lost = [Lost(r.kept_to, dt.datetime.fromisoformat(r.anchor.at)) for r in restores]
                compared = compare(conn, shipped(), lost)
                check.shipped = {"shipped": compared.shipped, "events": compared.events, "not_yet": compared.not_yet,
                                 "lost_in_restores": compared.lost}  # fmt: skip
                if not compared.agrees:
                    check.outcome, check.problems = "broken", [f"the shipped copy: {p}" for p in compared.problems()]
    except AuditChainBroken as exc:
        return TrailCheck("broken", events=check.events, restores=check.restores, problems=[str(exc)])
    except (GatewayError, OSError, BotoCoreError, ClientError, psycopg.Error) as exc:
        why = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return TrailCheck("incomplete", events=check.events, problems=[f"{stage} cannot be read ({why})"])
    return check
