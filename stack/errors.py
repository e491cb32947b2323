"""The gateway's one error hierarchy."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class DatabaseError(GatewayError):
    """The database could not be started, migrated or reached."""


class AuditChainBroken(GatewayError):
    """The audit trail does not verify: an event was edited, deleted or reordered."""


class EngineUnavailable(GatewayError):
    """A model engine (LLM or embeddings) cannot be reached, or keeps answering that it is busy (503)."""


class EngineError(GatewayError):
    """A model engine answered, but not with something usable (502)."""


class ContextTooLong(GatewayError):
    """The conversation and its sources do not fit the model's context (413); the caller must shorten it."""
