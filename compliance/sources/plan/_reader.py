"""The plan document as the service modules read it: its custom resources by type token, inputs over computed."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from compliance.facts import Item


def whole(value: Any) -> int | None:
    """Pulumi mocks hand numbers back as floats; facts hold whole numbers as ints."""
    return None if value is None else int(value)


def arn_of(resource: Item) -> str:
    """The resource's ARN as the mocks computed it; its URN where none was (the policy pack's unknowns)."""
    return str(resource.get("arn") or resource["_urn"])


class PlanReader:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.config: dict[str, Any] = plan.get("config", {})
        self.region = str(self.config.get("aws:region", "us-east-1"))
        self.account = str(self.config.get("phistack:account_id", "000000000000"))
        self.by_type: dict[str, list[Item]] = defaultdict(list)
        for r in plan.get("resources", []):
            if r.get("custom"):
                merged = {**r.get("computed", {}), **r.get("inputs", {}), "_id": r.get("id"), "_urn": r.get("urn")}
                self.by_type[r["type"]].append(merged)

    def of(self, token: str) -> list[Item]:
        return self.by_type.get(token, [])

    def declares(self, token: str) -> bool:
        return bool(self.by_type.get(token))
