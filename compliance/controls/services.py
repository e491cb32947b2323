"""Only HIPAA-eligible services may create, receive, maintain or transmit PHI under the AWS BAA."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from compliance.controls._base import control, finding
from compliance.facts import Facts
from compliance.facts.hosts import SERVICES_IN_USE
from compliance.model import Control, Finding, Status


@cache
def eligible_services() -> dict[str, Any]:
    text = resources.files("compliance").joinpath("data/hipaa_eligible_services.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def hipaa_eligible(facts: Facts) -> list[Finding]:
    data = eligible_services()
    out = []
    for used in facts.get(SERVICES_IN_USE):
        service = used["service"]
        rid = f"{facts.account}/service/{service}"
        entry = data["eligible"].get(service)
        if entry is not None:
            caveat = "" if entry["verified"] else " (entry not yet verified against AWS's page: confirm it there)"
            out.append(
                finding(
                    Status.PASS,
                    rid,
                    "AWS::Service",
                    "global",
                    f"{entry['name']} is on AWS's HIPAA-eligible list as of {data['as_of']}{caveat}.",
                    evidence_of_use=used.get("evidence"),
                    verified=entry["verified"],
                )
            )
        elif service in data["control_plane"]:
            out.append(
                finding(
                    Status.PASS,
                    rid,
                    "AWS::Service",
                    "global",
                    f"{data['control_plane'][service]}; it never holds PHI.",
                    evidence_of_use=used.get("evidence"),
                )
            )
        else:
            out.append(
                finding(
                    Status.FAIL,
                    rid,
                    "AWS::Service",
                    "global",
                    f"Service {service} is in use but not on phistack's HIPAA-eligible list ({data['as_of']}); "
                    "it must not touch PHI unless AWS lists it.",
                    evidence_of_use=used.get("evidence"),
                )
            )
    return out


CONTROLS: tuple[Control, ...] = (
    control(
        "services-hipaa-eligible",
        "Every AWS service in use is HIPAA-eligible",
        "high",
        ("164.308(b)(1)", "164.308(b)(3)"),
        ("services_in_use",),
        ("tag:GetResources",),
        "The AWS BAA covers only the services AWS lists as HIPAA-eligible.",
        "Move the workload to an eligible service, or keep PHI out of that service and record why.",
        hipaa_eligible,
    ),
)
