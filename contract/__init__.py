"""What infra and compliance agree on, written once: the plan file's schema, the stack context a plan carries
to the controls, HIPAA's six-year retention, and the interface endpoints every stack has.

A leaf like ``userfiles``: infra writes ``plan.json`` with these names, compliance reads it as data, and neither
imports the other. Nothing here imports anything of ours."""

from __future__ import annotations

from typing import Final, TypedDict

PLAN_SCHEMA: Final = "phistack/plan/v2"

# 164.316(b)(2)(i): keep the documentation six years; as days, CloudWatch Logs' six-year retention value.
SIX_YEARS_DAYS: Final = 2192

# The AWS APIs every stack reaches through interface endpoints (no internet path): SSM and its two channels for
# Session Manager, EC2 and STS for the agents, KMS, CloudWatch Logs and metrics. S3 is a gateway endpoint.
INTERFACE_ENDPOINTS: Final = (
    "ssm", "ssmmessages", "ec2messages", "ec2", "kms", "logs", "monitoring", "sts", "sqs",
)  # fmt: skip


class StackContext(TypedDict):
    """What a client configured that the controls compare an account against (``context`` in plan.json)."""

    client: str
    log_retention_days: int | None  # None: "never" was configured
    allow_short_log_retention: bool
    required_endpoints: list[str]  # INTERFACE_ENDPOINTS, then the client's extras
    attestations: dict[str, str | None]  # attestation key -> ISO date, or None when not attested
