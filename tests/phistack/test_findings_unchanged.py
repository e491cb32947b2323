"""The house may be rearranged; what it finds may not change unnoticed.

The findings of `phistack check` on every planned variant and of `phistack demo` on emulated AWS are compared,
control by control and finding by finding (status, resource, message), with the record kept in
``golden/findings.json``. Ids that AWS or the emulator makes up anew on every run (vpc-…, key ids, dates) are
replaced by placeholders first. After a change that is meant to change findings, regenerate the record with
``PHISTACK_UPDATE_GOLDEN=1 pytest tests/phistack/test_findings_unchanged.py`` and review its diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compliance.assessment import assess
from compliance.controls import catalog
from compliance.sources.plan import facts_from_plan
from infra.config import ClientConfig
from infra.plan import Plan
from tests.conftest import VARIANTS, variant_raw
from tests.phistack.test_cli import phistack

GOLDEN = Path(__file__).parent / "golden" / "findings.json"
UPDATE = os.environ.get("PHISTACK_UPDATE_GOLDEN") == "1"

# What changes from run to run: made-up AWS ids, key ids, account-wide dates. Longest shapes first.
_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<hex>"),
    (re.compile(r"\b([a-z]+)-([0-9a-f]{17}|[0-9a-f]{8})\b"), r"\1-<id>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(T[0-9:.+Z-]+)?\b"), "<date>"),
    (re.compile(r"\b\d+ days ago\b"), "<n> days ago"),
]  # fmt: skip


def _stable(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def fingerprint(report: dict[str, Any]) -> dict[str, Any]:
    """Per control: its status and its findings as sorted (status, resource, region, message) lines."""
    out: dict[str, Any] = {}
    for control in report["controls"]:
        lines = sorted(
            _stable(f"{f['status']} {f['resource_id']} {f['region']} {f['message']}") for f in control["findings"]
        )
        out[control["id"]] = {"status": control["status"], "findings": lines}
    return out


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    if UPDATE:
        return {}
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def seen(golden: dict[str, Any]) -> Any:
    record: dict[str, Any] = {}
    yield record
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        old = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else {}
        GOLDEN.write_text(json.dumps({**old, **record}, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _compare(name: str, got: dict[str, Any], golden: dict[str, Any], seen: dict[str, Any]) -> None:
    seen[name] = got
    if UPDATE:
        return
    want = golden[name]
    assert sorted(got) == sorted(want), f"{name}: the set of controls changed"
    changed = [cid for cid in want if got[cid] != want[cid]]
    assert not changed, f"{name}: findings changed for {changed}: {[(got[c], want[c]) for c in changed[:2]]}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_check_finds_the_same_on_every_variant(
    variant: str,
    example_raw: dict[str, str],
    planned: Callable[[str], tuple[ClientConfig, Plan]],
    golden: dict[str, Any],
    seen: dict[str, Any],
) -> None:
    _, plan = planned(variant)
    facts = facts_from_plan(plan.to_json(variant_raw(example_raw, variant)))
    report = assess(facts, catalog(), [], "golden").to_json()
    _compare(f"check/{variant}", fingerprint(report), golden, seen)


def test_demo_finds_the_same(tmp_path: Path, golden: dict[str, Any], seen: dict[str, Any]) -> None:
    out = tmp_path / "demo"
    result = phistack("demo", "--no-pdf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    _compare("demo", fingerprint(json.loads((out / "report.json").read_text())), golden, seen)
