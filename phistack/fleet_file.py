"""The fleet file: every client a consultancy audits in one run, and how to reach each account.

    clients:
      - name: clinic-a                      # a slug: the client's folder in each run, and its signing key's name
        account: "111111111111"             # quoted: YAML would drop a leading zero of a number
        regions: [us-east-1]
        role_arn: arn:aws:iam::111111111111:role/phistack-audit
        external_id: 7f3e2c9a-clinic-a      # the client's role trusts this id only (no confused deputy)
        stack: Pulumi.clinic-a.yaml         # optional; relative paths are relative to the fleet file
        waivers: waivers/clinic-a.yaml      # optional
        host_evidence: evidence/clinic-a    # optional: playbooks/verify.yml's output for the host-* controls

Everything is checked before any account is touched: one line naming the client and the field, exit 2.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config_sections import nearest_region
from phistack.errors import UsageError

NAME = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
ACCOUNT = re.compile(r"^\d{12}$")
ROLE_ARN = re.compile(r"^arn:aws(?:-us-gov)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")  # what sts:AssumeRole accepts
REQUIRED = ("name", "account", "regions", "role_arn", "external_id")
OPTIONAL = ("stack", "waivers", "host_evidence")
MAX_CLIENTS = 1000


@dataclass(frozen=True)
class Client:
    name: str
    account: str
    regions: tuple[str, ...]
    role_arn: str
    external_id: str
    stack: Path | None = None
    waivers: Path | None = None
    host_evidence: Path | None = None


def _fail(path: Path, where: str, message: str) -> UsageError:
    return UsageError(f"{path}: {where}: {message}")


def _client(path: Path, index: int, raw: Any, regions_known: frozenset[str]) -> Client:
    where = f"clients[{index}]"
    if not isinstance(raw, dict):
        raise _fail(path, where, "is not a mapping of name, account, regions, role_arn, external_id.")
    name = raw.get("name")
    if isinstance(name, str) and NAME.fullmatch(name):
        where = f"client {name}"
    for key in raw:
        if key not in REQUIRED + OPTIONAL:
            near = difflib.get_close_matches(str(key), REQUIRED + OPTIONAL, n=1)
            raise _fail(path, f"{where}.{key}", f"unknown field{f' (did you mean {near[0]}?)' if near else ''}.")
    for key in REQUIRED:
        if raw.get(key) in (None, "", []):
            raise _fail(path, f"{where}.{key}", "is required.")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise _fail(path, f"{where}.name", "is not a slug of 2-63 lowercase letters, digits and dashes.")
    account = raw["account"]
    if not isinstance(account, str) or not ACCOUNT.fullmatch(account):
        tip = " (write it in quotes: a number loses leading zeros)" if isinstance(account, int) else ""
        raise _fail(path, f"{where}.account", f"is not a 12-digit AWS account id{tip}.")
    regions = raw["regions"]
    if isinstance(regions, str):
        regions = [regions]
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise _fail(path, f"{where}.regions", "is not a list of region names.")
    for region in regions:
        if region not in regions_known:
            likely = nearest_region(region)
            tip = f" (did you mean {likely}?)" if likely else ""
            raise _fail(path, f"{where}.regions", f"{region!r} is not an AWS region{tip}.")
    if len(set(regions)) != len(regions):
        raise _fail(path, f"{where}.regions", "lists a region twice.")
    role = raw["role_arn"]
    match = ROLE_ARN.fullmatch(role) if isinstance(role, str) else None
    if match is None:
        raise _fail(path, f"{where}.role_arn", "is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME).")
    if match.group(1) != account:
        raise _fail(path, f"{where}.role_arn", f"is a role in account {match.group(1)}, not in {account}.")
    external = raw["external_id"]
    if not isinstance(external, str) or not EXTERNAL_ID.fullmatch(external):
        raise _fail(path, f"{where}.external_id", "is not 2-1224 characters of letters, digits and +=,.@:/-_.")
    files: dict[str, Path | None] = {}
    for key in OPTIONAL:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise _fail(path, f"{where}.{key}", "is not a path.")
        files[key] = None if value is None else (path.parent / value)
    for key in ("stack", "waivers"):
        file = files[key]
        if file is not None and not file.is_file():
            raise _fail(path, f"{where}.{key}", f"{file} is not a file.")
    evidence = files["host_evidence"]
    if evidence is not None and not evidence.is_dir():
        raise _fail(path, f"{where}.host_evidence", f"{evidence} is not a directory.")
    return Client(name, account, tuple(regions), role, external, files["stack"], files["waivers"], evidence)


def read_fleet(path: Path) -> list[Client]:
    """The fleet file's clients, every field checked; UsageError (exit 2) naming the first problem."""
    from infra.config_sections import known_regions
    from userfiles import UserFileError, load

    try:
        document = load(path, "fleet file")
    except UserFileError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(document, dict) or set(document) != {"clients"}:
        raise UsageError(f"{path}: a fleet file is one mapping with a single key, clients (a list).")
    raw_clients = document["clients"]
    if not isinstance(raw_clients, list) or not raw_clients:
        raise UsageError(f"{path}: clients: is not a non-empty list.")
    if len(raw_clients) > MAX_CLIENTS:
        raise UsageError(f"{path}: clients: lists {len(raw_clients)} clients; at most {MAX_CLIENTS} in one file.")
    known = known_regions()
    clients = [_client(path, i, raw, known) for i, raw in enumerate(raw_clients)]
    seen: set[str] = set()
    for client in clients:
        if client.name in seen:
            raise UsageError(f"{path}: client {client.name}: the name is listed twice.")
        seen.add(client.name)
    return clients
