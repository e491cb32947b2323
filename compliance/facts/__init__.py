"""Facts: the seam between where the data comes from (``compliance.sources``: live, plan, hosts) and the controls.

Facts are grouped by kind. Each kind is a ``Kind`` with one record type (a TypedDict), defined once in this
package by area: ``network``, ``compute``, ``storage``, ``database``, ``logging``, ``identity``, ``hosts``.
Producers build records (``Vpc(id=..., ...)``) and add them with ``facts.add(VPCS, items)``; controls read
``facts.get(VPCS)`` and get ``list[Vpc]``. mypy checks both sides against the one record;
``tests/compliance/test_fact_records.py`` checks at run time that what the live and the plan sources really
produce has exactly each record's fields, and that every kind a control reads is produced by both.

A value that could not be read for one resource (say, AccessDenied on one bucket's policy) is an ``Unreadable``
marker, ``{"unreadable": {"api": "s3:GetBucketPolicy", "error": "AccessDenied"}}``, where its record allows
one, and the controls turn it into an ERROR finding for that resource. A whole kind that could not be collected
is a ``Gap``: ERROR for a live account, NOT_APPLICABLE for a plan that cannot know it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from compliance.facts._kind import Kind, R, Unreadable
from contract import INTERFACE_ENDPOINTS, SIX_YEARS_DAYS, StackContext

__all__ = ["Context", "Facts", "FactsUnavailable", "Gap", "Item", "Kind", "R", "Unreadable", "unreadable"]

Item = dict[str, Any]  # a record before it is typed (plan resources, API responses) or in tests

# Not a fact a source produces: the manual controls read the stack's attestations from the Context.
ATTESTATIONS = "attestations"


@dataclass(frozen=True)
class Gap:
    """Why a kind of fact is missing. ``status`` is what a control reading it must report."""

    reason: str
    status: Literal["ERROR", "NOT_APPLICABLE"] = "ERROR"
    api: str = ""


class FactsUnavailable(Exception):
    def __init__(self, kind: str, gap: Gap) -> None:
        super().__init__(f"{kind}: {gap.reason}")
        self.kind = kind
        self.gap = gap


@dataclass
class Context:
    """What the client configured, when known: controls compare the account against it."""

    client: str | None = None
    log_retention_days: int | None = SIX_YEARS_DAYS  # None: "never" was configured
    allow_short_log_retention: bool = False
    required_endpoints: tuple[str, ...] = INTERFACE_ENDPOINTS
    attestations: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, stack: StackContext) -> Context:
        """The context a stack declares (``context`` in plan.json, or ``ClientConfig.context()``)."""
        return cls(
            client=stack["client"],
            log_retention_days=stack["log_retention_days"],
            allow_short_log_retention=stack["allow_short_log_retention"],
            required_endpoints=tuple(stack["required_endpoints"]),
            attestations=dict(stack["attestations"]),
        )


@dataclass
class Facts:
    source: Literal["live", "plan"]
    account: str
    regions: list[str]
    items: dict[str, list[Any]] = field(default_factory=dict)  # by kind name: records (see get/add)
    gaps: dict[str, Gap] = field(default_factory=dict)
    context: Context = field(default_factory=Context)

    def get(self, kind: Kind[R]) -> list[R]:
        """The records of a kind. (At run time a kind's name also works: the tests build facts by hand.)"""
        name = kind if isinstance(kind, str) else kind.name
        if name in self.gaps:
            raise FactsUnavailable(name, self.gaps[name])
        if name not in self.items:
            raise FactsUnavailable(name, Gap(f"no collector produced {name}"))
        return self.items[name]

    def add(self, kind: Kind[R], items: Iterable[R]) -> None:
        name = kind if isinstance(kind, str) else kind.name
        self.items.setdefault(name, []).extend(items)

    def missing(self, kind: Kind[Any], gap: Gap) -> None:
        """Record that ``kind`` could not be collected (first reason wins; partial items are dropped)."""
        self.gaps.setdefault(kind if isinstance(kind, str) else kind.name, gap)


def unreadable(value: Any) -> dict[str, str] | None:
    """The reason a per-resource value could not be read, or None if it was read."""
    if isinstance(value, dict) and set(value) == {"unreadable"}:
        reason: dict[str, str] = value["unreadable"]
        return reason
    return None


def unreadable_marker(api: str, error: str) -> dict[str, dict[str, str]]:
    return {"unreadable": {"api": api, "error": error}}
