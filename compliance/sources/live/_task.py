"""A collector task: one fact kind, gathered per region or once for the account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal

from compliance.facts import Kind, R, unreadable_marker
from compliance.sources.live._client import Scan, Unavailable


@dataclass(frozen=True)
class Task(Generic[R]):
    kind: Kind[R]
    scope: Literal["regional", "global"]
    run: Callable[[Scan, str, str], list[R]]  # (scan, region, account) -> records of the kind


def value_or_marker(
    scan: Scan,
    client: Any,
    operation: str,
    pick: Callable[[Any], Any],
    absent: tuple[str, ...] = (),
    default: Any = None,
    **kwargs: Any,
) -> Any:
    """One resource's value: picked from the response, ``default`` if absent, or an unreadable marker."""
    try:
        response = scan.call(client, operation, absent=absent, **kwargs)
    except Unavailable as exc:
        return unreadable_marker(exc.api, exc.error)
    return default if response is None else pick(response)
