"""Deterministic physical names and the tags every resource carries, derived from the client config."""

from __future__ import annotations

from typing import Literal

from infra.config import ClientConfig

BucketPurpose = Literal["docs", "artifacts", "audit-logs", "access-logs", "ssm-xfer", "db-archive"]
# Where the gateway load balancer's access logs go in the access-log bucket (AWS adds AWSLogs/ACCOUNT/... after).
LOAD_BALANCER_LOG_PREFIX = "load-balancer"
# Where the gateway hosts write their signed audit-chain anchors in the audit archive (stack/anchors.py).
ANCHOR_PREFIX = "audit-anchors"


def physical(cfg: ClientConfig, *parts: str) -> str:
    """The physical name of one of the client's resources: ``phistack-<client>[-<part>...]``. Every name AWS sees
    comes from here, so two clients in one account never collide and every name says whose it is."""
    return "-".join(("phistack", cfg.client, *parts))


def bucket_name(cfg: ClientConfig, purpose: BucketPurpose) -> str:
    """Globally unique, at most 58 characters: ``phistack-<client>-<purpose>-<account>``."""
    return physical(cfg, purpose, cfg.account_id)


def bucket_arn(cfg: ClientConfig, purpose: BucketPurpose) -> str:
    return f"arn:{cfg.partition}:s3:::{bucket_name(cfg, purpose)}"


def log_group_name(cfg: ClientConfig, purpose: str) -> str:
    return f"/phistack/{cfg.client}/{purpose}"


def trail_name(cfg: ClientConfig) -> str:
    return physical(cfg, "trail")


def tags(cfg: ClientConfig, component: str, name: str | None = None) -> dict[str, str]:
    """Tags for one resource: the client's own tags first, so ours always win."""
    out = dict(cfg.tags)
    out.update(
        {
            "phistack:client": cfg.client,
            "phistack:component": component,
            "data-classification": "phi",
            "compliance-scope": "hipaa",
        }
    )
    if name is not None:
        out["Name"] = name
    return out
