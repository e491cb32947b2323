"""Records of the installed hosts (playbooks/verify.yml's evidence, read by compliance.sources.hosts) and of the
AWS services a stack uses."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from compliance.facts._kind import Kind


class Host(TypedDict):
    """One host's evidence file (phistack/host-evidence/v1). Each section is either what was measured or
    ``{"error": why}``; the controls in compliance/controls/hosts.py read them."""

    id: str  # the inventory name, else the host name
    region: Literal["global"]
    host: str
    inventory_host: NotRequired[str]
    collected_at: NotRequired[str]
    tls: dict[str, dict[str, Any]]  # service -> {address, accepted {TLSv1..TLSv1.3: bool|None}, plaintext} | {error}
    auditd: dict[str, Any]  # {rules_loaded, enabled, phi_paths_watched} | {error}
    phi_paths: NotRequired[list[str]]
    ssh: dict[str, Any]  # {units, port_22_listening}
    services: dict[str, dict[str, Any]]  # unit -> {expected_user, user, active}
    data_volume: dict[str, Any] | None  # {path, source, fstype, mount, ebs_volume_id} | {error}
    gpus: NotRequired[Any]
    # {archive_mode, archive_command, archived_count, last_archived_wal/time, failed_count, last_failed_time,
    # base_backups, newest_backup_end} | {error} | {..., backups_error}; None: no local database (Aurora)
    archive: NotRequired[dict[str, Any] | None]
    # `phistack-gateway audit verify --anchors --json` (phistack/audit-verify/v1: outcome, events, anchors,
    # last_anchor, problems) | {error}; None: no local database (Aurora)
    audit_trail: NotRequired[dict[str, Any] | None]


class ServiceInUse(TypedDict):
    service: str  # as the HIPAA-eligible list names it
    region: str
    evidence: str  # an ARN (live) or the declared resource type (plan)


HOSTS = Kind("hosts", Host)
SERVICES_IN_USE = Kind("services_in_use", ServiceInUse)
