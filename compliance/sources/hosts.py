"""Host evidence files (playbooks/verify.yml writes one per host) read into facts of kind ``hosts``."""

from __future__ import annotations

import json
from pathlib import Path

from compliance.errors import InputError
from compliance.facts.hosts import Host

FORMAT = "phistack/host-evidence/v1"
SECTIONS = ("tls", "auditd", "ssh", "services", "data_volume")


def load(path: Path) -> list[Host]:
    """Every host's evidence from a folder of JSON files (or one file); one hosts item per file."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise InputError(f"--host-evidence {path}: no evidence files (run playbooks/verify.yml first).")
    items: list[Host] = []
    for file in files:
        try:
            document = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"--host-evidence {file}: not readable JSON ({exc.__class__.__name__}).") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise InputError(f"--host-evidence {file}: not host evidence (format {FORMAT} expected).")
        missing = [s for s in ("host", *SECTIONS) if s not in document]
        if missing:
            raise InputError(f"--host-evidence {file}: no {missing[0]!r} section.")
        record = Host(
            id=str(document.get("inventory_host") or document["host"]),
            region="global",
            host=str(document["host"]),
            tls=document["tls"],
            auditd=document["auditd"],
            ssh=document["ssh"],
            services=document["services"],
            data_volume=document["data_volume"],
        )
        for optional in ("inventory_host", "collected_at", "phi_paths", "gpus", "archive", "audit_trail"):
            if optional in document:
                record[optional] = document[optional]
        items.append(record)
    return items
