"""What the findings exports (ASFF, OCSF) share: which findings of report.json leave, and their stable ids.

Every finding of every control leaves, one record each. A control with no finding but a status that needs a
reader's attention (ERROR: could not be evaluated; MANUAL: waits for an attestation) leaves as one record on
the account, so an unknown never disappears on the way out. NOT_APPLICABLE leaves nothing (a finding that
does not apply, or a control with nothing of its kind), nor does a PASS control with no finding.
``failing_only`` keeps FAIL, ERROR and WAIVED records (a waived failure is still a failure, shown as waived).

A record's id is the same in every run for the same account, region, control and resource, so a re-import
updates the finding a security team already sees instead of adding a second one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

FAILING = frozenset({"FAIL", "ERROR", "WAIVED"})
ACCOUNT_TYPE = "AWS::::Account"
MAX_ID = 512  # ASFF's limit on Id and on a resource's Id; OCSF has none, one id serves both


@dataclass(frozen=True)
class Record:
    """One finding on its way out: the control it belongs to and the finding, with its region resolved."""

    uid: str
    control: dict[str, Any]
    finding: dict[str, Any]
    region: str  # a real region: a "global" finding is filed under the report's first region


def partition(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def generated_at(report: dict[str, Any]) -> dt.datetime:
    when = dt.datetime.fromisoformat(report["generated_at"])
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _uid(account: str, region: str, control: str, resource: str) -> str:
    uid = f"phistack/{account}/{region}/{control}/{resource}"
    if len(uid) <= MAX_ID:
        return uid
    digest = hashlib.sha256(resource.encode()).hexdigest()
    return f"phistack/{account}/{region}/{control}/sha256-{digest}"


def _account_finding(report: dict[str, Any], control: dict[str, Any]) -> dict[str, Any]:
    account = report["target"]["account"]
    return {
        "resource_id": f"{ACCOUNT_TYPE}:{account}",
        "resource_type": ACCOUNT_TYPE,
        "region": "global",
        "status": control["status"],
        "message": control.get("note") or f"{control['title']}: {control['status']}.",
        "evidence": {},
    }


def records(report: dict[str, Any], *, failing_only: bool = False) -> Iterator[Record]:
    account = report["target"]["account"]
    home = report["target"]["regions"][0]
    seen: dict[str, int] = {}
    for control in report["controls"]:
        findings = control["findings"]
        if not findings and control["status"] in ("ERROR", "MANUAL"):
            findings = [_account_finding(report, control)]
        for finding in findings:
            if finding["status"] == "NOT_APPLICABLE" or (failing_only and finding["status"] not in FAILING):
                continue
            region = home if finding["region"] == "global" else finding["region"]
            uid = _uid(account, region, control["id"], finding["resource_id"])
            seen[uid] = seen.get(uid, 0) + 1
            if seen[uid] > 1:  # a second finding of one control on one resource keeps its own id
                uid = f"{uid[: MAX_ID - 8]}#{seen[uid]}"
            yield Record(uid, control, finding, region)


def clip(text: str, limit: int) -> str:
    """Whitespace folded, and cut with an ellipsis where a format caps the length."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"
