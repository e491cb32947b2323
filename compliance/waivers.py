"""Waivers: an approved, justified, expiring exception for a control on matching resources.

    waivers:
      - control: s3-access-logging
        resource: "arn:aws:s3:::phistack-acme-ssm-xfer-*"     # shell-style pattern on resource_id
        justification: Scratch bucket for Ansible transfers; objects expire after a day.
        approver: jane.doe@clinic.example
        expires: 2027-06-30

A waiver turns matching FAIL findings into WAIVED, with its justification and approver in the report. It
never touches ERROR (an unknown is not waivable) or PASS. An expired or malformed waiver stops the run
(exit 2): it is never silently ignored, and never silently applied.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compliance.errors import InputError
from compliance.model import Finding, Status

FIELDS = ("control", "resource", "justification", "approver", "expires")


@dataclass(frozen=True)
class Waiver:
    control: str
    resource: str
    justification: str
    approver: str
    expires: dt.date

    def matches(self, control_id: str, finding: Finding) -> bool:
        return control_id == self.control and fnmatch.fnmatchcase(finding.resource_id, self.resource)

    def to_json(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "resource": self.resource,
            "justification": self.justification,
            "approver": self.approver,
            "expires": self.expires.isoformat(),
        }


def load_waivers(path: Path, known_controls: set[str], today: dt.date | None = None) -> list[Waiver]:
    today = today or dt.date.today()
    from userfiles import UserFileError, load

    try:
        document = load(path, "waiver file")
    except UserFileError as exc:
        raise InputError(str(exc)) from None
    if not isinstance(document, dict) or not isinstance(document.get("waivers"), list):
        raise InputError(f"{path}: expected a mapping with a 'waivers:' list.")
    out = []
    for n, raw in enumerate(document["waivers"], start=1):
        where = f"{path}: waiver {n}"
        if not isinstance(raw, dict):
            raise InputError(f"{where} is not a mapping of {', '.join(FIELDS)}.")
        missing = [f for f in FIELDS if not raw.get(f)]
        if missing:
            raise InputError(f"{where} lacks {', '.join(missing)}.")
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise InputError(f"{where} has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}.")
        for name in FIELDS[:-1]:
            value = raw[name]
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{where}: {name} must be text, not {value!r}.")
        if raw["control"] not in known_controls:
            raise InputError(f"{where} names control {raw['control']!r}, which is not in the catalog.")
        expires = raw["expires"]
        try:  # the reader keeps dates as text: an impossible one (2026-02-30) or a date-time is refused here
            expires = dt.date.fromisoformat(expires) if isinstance(expires, str) and len(expires) == 10 else None
        except ValueError:
            expires = None
        if expires is None:
            raise InputError(f"{where}: expires = {raw['expires']!r} is not a date (YYYY-MM-DD).")
        if expires < today:
            raise InputError(
                f"{where} ({raw['control']} on {raw['resource']}) expired on {expires}; renew or remove it."
            )
        out.append(
            Waiver(str(raw["control"]), str(raw["resource"]), str(raw["justification"]), str(raw["approver"]), expires)
        )
    return out


def apply_waivers(control_id: str, findings: list[Finding], waivers: list[Waiver], used: set[int]) -> None:
    for finding in findings:
        if finding.status is not Status.FAIL:
            continue
        for i, waiver in enumerate(waivers):
            if waiver.matches(control_id, finding):
                finding.status = Status.WAIVED
                finding.waiver = waiver.to_json()
                used.add(i)
                break
