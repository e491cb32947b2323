"""junit.xml: one test case per control. FAIL is a failure, ERROR an error, MANUAL and NOT_APPLICABLE are
skipped, WAIVED passes with the waiver in system-out, so CI shows exactly what the auditor sees."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from compliance.hipaa import section_of
from compliance.reports.summary import incomplete_line, unjudged


def _detail(control: dict[str, Any], status: str) -> str:
    lines = [f"{f['resource_id']}: {f['message']}" for f in control["findings"] if f["status"] == status]
    return "\n".join(lines) or control.get("note", "")


def render_junit(report: dict[str, Any]) -> str:
    controls = report["controls"]
    counts = {s: sum(1 for c in controls if c["status"] == s) for s in ("FAIL", "ERROR", "MANUAL", "NOT_APPLICABLE")}
    suite = ET.Element(
        "testsuite",
        {
            "name": f"phistack HIPAA {report['target']['kind']} assessment",
            "tests": str(len(controls)),
            "failures": str(counts["FAIL"]),
            "errors": str(counts["ERROR"]),
            "skipped": str(counts["MANUAL"] + counts["NOT_APPLICABLE"]),
            "timestamp": report["generated_at"],
        },
    )
    props = ET.SubElement(suite, "properties")
    for key in ("account", "client", "kind"):
        ET.SubElement(props, "property", {"name": key, "value": str(report["target"].get(key) or "")})
    incomplete = incomplete_line(unjudged(controls))
    ET.SubElement(
        props, "property", {"name": "verdict", "value": incomplete or ("failed" if counts["FAIL"] else "clean")}
    )
    for c in controls:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"hipaa.{section_of(c['hipaa'][0])}.{c['id'].split('-')[0]}",
                "name": f"{c['id']}: {c['title']} [{', '.join(c['hipaa'])}]",
            },
        )
        status = c["status"]
        if status == "FAIL":
            ET.SubElement(case, "failure", {"message": f"{c['title']} ({c['severity']})", "type": "FAIL"}).text = (
                _detail(c, "FAIL") + f"\nRemediation: {c['remediation']}"
            )
        elif status == "ERROR":
            ET.SubElement(case, "error", {"message": "could not be evaluated", "type": "ERROR"}).text = _detail(
                c, "ERROR"
            )
        elif status in ("MANUAL", "NOT_APPLICABLE"):
            ET.SubElement(case, "skipped", {"message": f"{status}: {c.get('note', '')}"[:500]})
        elif status == "WAIVED":
            ET.SubElement(case, "system-out").text = "\n".join(
                f"WAIVED {f['resource_id']}: {f['waiver']['justification']} (approved by {f['waiver']['approver']}, "
                f"until {f['waiver']['expires']})"
                for f in c["findings"]
                if f.get("waiver")
            )
    if incomplete:  # also where CI prints the suite's own output, above the cases
        ET.SubElement(suite, "system-out").text = f"{incomplete}: this assessment is not clean."
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
