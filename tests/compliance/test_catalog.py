"""The catalog and its HIPAA mapping are data, and tested as data."""

from __future__ import annotations

import re
from collections import Counter

from compliance.controls import catalog
from compliance.facts import ATTESTATIONS
from compliance.facts.kinds import BY_NAME
from compliance.hipaa import PARAGRAPHS, SECTIONS, is_real_paragraph, section_of


def test_ids_are_unique_and_well_formed() -> None:
    ids = [c.id for c in catalog()]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", i) for i in ids)


def test_at_least_45_automated_controls_and_the_manual_ones() -> None:
    automated = [c for c in catalog() if c.automated]
    manual = {c.id for c in catalog() if not c.automated}
    assert len(automated) >= 45
    assert {
        "manual-baa-aws",
        "manual-baa-client",
        "manual-risk-analysis",
        "manual-workforce-training",
        "manual-contingency-plan",
    } == manual


def test_every_citation_is_a_real_security_rule_paragraph() -> None:
    for control in catalog():
        assert control.hipaa, f"{control.id} cites nothing"
        bad = [c for c in control.hipaa if not is_real_paragraph(c)]
        assert bad == [], f"{control.id} cites {bad}"
        assert all(section_of(c) in SECTIONS for c in control.hipaa)


def test_paragraph_table_is_well_formed() -> None:
    assert all(re.fullmatch(r"164\.3(08|10|12|16)(\([a-z0-9]+\)|\([ivx]+\)|\([A-E]\))+", p) for p in PARAGRAPHS)
    assert "164.312(b)" in PARAGRAPHS and "164.312(e)(2)(ii)" in PARAGRAPHS
    assert not is_real_paragraph("164.312(f)") and not is_real_paragraph("164.314(a)(1)")


def test_every_technical_safeguard_standard_is_served() -> None:
    cited = {p for c in catalog() for p in c.hipaa}
    for standard in ("164.312(a)(1)", "164.312(b)", "164.312(c)(1)", "164.312(d)", "164.312(e)(1)"):
        assert standard in cited, f"no control serves {standard}"


def test_metadata_is_complete() -> None:
    for c in catalog():
        assert c.severity in ("critical", "high", "medium", "low")
        assert c.title and c.rationale.endswith(".") and c.remediation
        assert set(c.facts) <= {*BY_NAME, ATTESTATIONS}, c.id
        if c.automated and set(c.facts) == {"hosts"}:  # read from playbooks/verify.yml's files: no AWS call
            assert c.permissions == (), c.id
        elif c.automated:
            assert c.permissions and all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", p) for p in c.permissions), c.id
        else:
            assert c.manual_evidence


def test_the_readme_counts_the_catalog_as_it_is() -> None:

    from compliance.policypack.policies import plan_evaluable
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    controls = catalog()
    automated = sum(c.automated for c in controls)
    said = re.search(r"one catalog of (\d+) controls \((\d+) automated, (\d+) manual\)", readme)
    assert said and [int(n) for n in said.groups()] == [len(controls), automated, len(controls) - automated]
    pack = re.search(r"one stack validation policy for each of the (\d+) controls a plan can judge", readme)
    assert pack and int(pack[1]) == sum(plan_evaluable(c) for c in controls)
