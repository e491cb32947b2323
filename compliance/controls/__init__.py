"""The control catalog: every control, automated and manual, in report order."""

from __future__ import annotations

from compliance.controls import (
    backup,
    cloudtrail,
    ec2,
    edge,
    hosts,
    iam,
    kms,
    logs,
    manual,
    monitoring,
    network,
    queues,
    rds,
    s3,
    services,
)
from compliance.model import Control

_MODULES = (
    network,
    edge,
    ec2,
    kms,
    s3,
    queues,
    cloudtrail,
    logs,
    monitoring,
    iam,
    rds,
    backup,
    services,
    hosts,
    manual,
)


def catalog() -> tuple[Control, ...]:
    return tuple(c for module in _MODULES for c in module.CONTROLS)


def by_id() -> dict[str, Control]:
    return {c.id: c for c in catalog()}
