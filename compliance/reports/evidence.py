"""evidence/: the facts each finding was decided on, one file per kind, secrets redacted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from compliance.facts import Facts

SECRET_KEY = re.compile(r"(secret|password|passwd|token|private[_-]?key|credential)", re.IGNORECASE)


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[REDACTED]" if SECRET_KEY.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def write_evidence(facts: Facts, out_dir: Path) -> list[Path]:
    folder = out_dir / "evidence"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, items in sorted(facts.items.items()):
        path = folder / f"{kind}.json"
        path.write_text(json.dumps(redact(items), indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
        written.append(path)
    gaps = {k: {"reason": g.reason, "status": g.status, "api": g.api} for k, g in sorted(facts.gaps.items())}
    path = folder / "gaps.json"
    path.write_text(json.dumps(gaps, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return [*written, path]
