"""SQS: the document-bucket events (object keys, which can name a patient) encrypted with a customer-managed key
and refused without TLS."""

from __future__ import annotations

import json
from typing import Any

from compliance.controls._base import Record, control, customer_managed_key, denies_insecure_transport, each
from compliance.facts import Facts
from compliance.facts.storage import SQS_QUEUES
from compliance.model import Control, Finding

QUEUE = "AWS::SQS::Queue"


def _queues(facts: Facts, needs: tuple[str, ...], judge: Any) -> list[Finding]:
    return each(facts.get(SQS_QUEUES), needs, lambda q: q["arn"], QUEUE, lambda q: f"queue {q['name']}", judge)


def encrypted_cmk(facts: Facts) -> list[Finding]:
    is_cmk = customer_managed_key(facts)

    def judge(q: Record) -> tuple[bool, str, dict[str, Any]]:
        key = q.get("kms_key_id")
        if not is_cmk(key):
            used = f"KMS key {key}" if key else "no KMS key (SQS-managed encryption at most)"
            return (
                False,
                f"Queue {q['name']} is encrypted with {used}, not a customer-managed key.",
                {"kms_key_id": key},
            )
        return True, f"Queue {q['name']} is encrypted with customer-managed key {key}.", {"kms_key_id": key}

    return _queues(facts, ("kms_key_id",), judge)


def tls_only(facts: Facts) -> list[Finding]:
    def judge(q: Record) -> tuple[bool, str, dict[str, Any]]:
        raw = q.get("policy")
        document = (json.loads(raw) if isinstance(raw, str) else raw) or {}
        if isinstance(document, dict) and denies_insecure_transport(document, "sqs"):
            return True, f"Queue {q['name']}'s policy denies every request without TLS.", {}
        return (
            False,
            f"Queue {q['name']} has no policy statement denying requests where aws:SecureTransport is false.",
            {"policy": raw},
        )

    return _queues(facts, ("policy",), judge)


CONTROLS: tuple[Control, ...] = (
    control(
        "sqs-encrypted-cmk",
        "Queues are encrypted with a customer-managed KMS key",
        "high",
        ("164.312(a)(2)(iv)",),
        ("sqs_queues", "kms_keys"),
        ("sqs:ListQueues", "sqs:GetQueueAttributes", "kms:ListKeys", "kms:DescribeKey"),
        "Document events carry object keys, and a file name can identify a patient.",
        "Set KmsMasterKeyId to the stack's data key (aws sqs set-queue-attributes).",
        encrypted_cmk,
    ),
    control(
        "sqs-tls-only",
        "Queue policies refuse requests without TLS",
        "high",
        ("164.312(e)(1)", "164.312(e)(2)(ii)"),
        ("sqs_queues",),
        ("sqs:ListQueues", "sqs:GetQueueAttributes"),
        "Messages in transit must be encrypted; the queue can insist, whatever the client does.",
        "Add a Deny for Principal * on sqs:* when aws:SecureTransport is false.",
        tls_only,
    ),
)
