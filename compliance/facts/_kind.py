"""A kind of fact: its name in Facts and the record type each of its items is (checked by mypy, and at run time
by the tests against what the live and plan sources really produce)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar

R = TypeVar("R", bound=Mapping[str, Any])


@dataclass(frozen=True)
class Kind(Generic[R]):
    name: str
    record: type[R]


class Unreadable(TypedDict):
    """A value one resource's API refused to give (e.g. AccessDenied on s3:GetBucketPolicy): its control says
    ERROR for that resource, naming the API."""

    unreadable: dict[str, str]  # {"api": "s3:GetBucketPolicy", "error": "AccessDenied"}
