"""The document bucket's events, for the knowledge base's sync service (stack/sync.py, the rag_gateway role).

S3 sends every object created or removed in the document bucket (versions and delete markers included) to an SQS
queue encrypted with the stack's data key. Only the bucket, from this account, may send to it, and nothing may
reach either queue without TLS. A message the sync service cannot process goes to a dead-letter queue (itself
encrypted, TLS-only), after MAX_RECEIVES deliveries or at once when the document itself is unreadable; the
hosts reach SQS through its interface endpoint (contract.INTERFACE_ENDPOINTS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.config import ClientConfig

EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
MAX_RECEIVES = 5  # deliveries of one message before SQS moves it to the dead-letter queue
VISIBILITY_S = 300  # longer than one document's worst case: parse limit (40 s) plus embedding
RETENTION_S = 14 * 24 * 3600  # SQS's longest: a week-long outage of the sync service loses no event
MAX_MESSAGE_BYTES = 262_144  # stack.sync.MAX_MESSAGE_BYTES


def tls_only(queue_arn: pulumi.Input[str]) -> policies.Statement:
    return {
        "Sid": "DenyWithoutTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


@dataclass
class DocumentEventsArgs:
    cfg: ClientConfig
    data_key_arn: pulumi.Input[str]
    docs_bucket: pulumi.Input[str]
    docs_bucket_arn: pulumi.Input[str]


class DocumentEvents(pulumi.ComponentResource):
    queue_arn: pulumi.Output[str]
    queue_url: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]

    def __init__(self, name: str, args: DocumentEventsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:storage:DocumentEvents", name, None, opts)
        cfg = args.cfg
        child = pulumi.ResourceOptions(parent=self)
        encrypted = {
            "kms_master_key_id": args.data_key_arn,
            "kms_data_key_reuse_period_seconds": 300,
            "message_retention_seconds": RETENTION_S,
            "max_message_size": MAX_MESSAGE_BYTES,
        }
        dead = aws.sqs.Queue(
            f"{name}-dlq",
            name=naming.physical(cfg, "docs-events-dlq"),
            tags=naming.tags(cfg, "storage", naming.physical(cfg, "docs-events-dlq")),
            opts=child,
            **encrypted,
        )
        queue = aws.sqs.Queue(
            f"{name}-queue",
            name=naming.physical(cfg, "docs-events"),
            visibility_timeout_seconds=VISIBILITY_S,
            receive_wait_time_seconds=20,
            redrive_policy=dead.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVES})
            ),
            tags=naming.tags(cfg, "storage", naming.physical(cfg, "docs-events")),
            opts=child,
            **encrypted,
        )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy", queue_url=dead.url, policy=policies.document(tls_only(dead.arn)), opts=child
        )
        policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=queue.url,
            policy=policies.document(
                {
                    "Sid": "DocumentBucketSendsEvents",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue.arn,
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": args.docs_bucket_arn},
                        "StringEquals": {"aws:SourceAccount": cfg.account_id},
                    },
                },
                tls_only(queue.arn),
            ),
            opts=child,
        )
        # S3 checks that it may send when the configuration is written: the policy must exist first.
        aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=args.docs_bucket,
            queues=[aws.s3.BucketNotificationQueueArgs(queue_arn=queue.arn, events=EVENTS)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.queue_arn, self.queue_url = queue.arn, queue.url
        self.dead_letter_queue_arn, self.dead_letter_queue_url = dead.arn, dead.url
        self.register_outputs(
            {
                "queue_arn": self.queue_arn,
                "queue_url": self.queue_url,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
                "dead_letter_queue_url": self.dead_letter_queue_url,
            }
        )
