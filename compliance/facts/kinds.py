"""Every kind of fact, by name: what the sources may produce and the controls may read."""

from __future__ import annotations

from typing import Any

from compliance.facts import compute, database, hosts, identity, logging, network, storage
from compliance.facts._kind import Kind

ALL: tuple[Kind[Any], ...] = tuple(
    value
    for module in (network, compute, storage, database, logging, identity, hosts)
    for value in vars(module).values()
    if isinstance(value, Kind)
)
BY_NAME: dict[str, Kind[Any]] = {k.name: k for k in ALL}
