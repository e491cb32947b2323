"""The gateway's one error hierarchy."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class DatabaseError(GatewayError):
    """The database could not be started, migrated or reached."""


class AuditChainBroken(GatewayError):
    """The audit trail does not verify: an event was edited, deleted or reordered."""
