"""Write the whole bundle for an assessment: report.json first (canonical), everything else from it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from compliance.facts import Facts
from compliance.reports.bundle import Signer, sign_bundle
from compliance.reports.evidence import write_evidence
from compliance.reports.html import render_html
from compliance.reports.junit import render_junit
from compliance.reports.oscal import render_oscal
from compliance.reports.pdf import find_chromium, render_pdf

log = logging.getLogger(__name__)


def render_all(report: dict[str, Any], out_dir: Path, pdf: bool = True) -> list[str]:
    """Render HTML, JUnit, OSCAL and (if Chromium is present) PDF from report.json; return warnings."""
    warnings = []
    html = out_dir / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    (out_dir / "junit.xml").write_text(render_junit(report), encoding="utf-8")
    oscal = json.dumps(render_oscal(report), indent=1) + "\n"
    (out_dir / "oscal-assessment-results.json").write_text(oscal, encoding="utf-8")
    if pdf:
        chromium = find_chromium()
        if chromium is None:
            warnings.append("report.pdf not written: no Chromium found (apt-get install chromium).")
        else:
            try:
                render_pdf(html, out_dir / "report.pdf", chromium)
            except (RuntimeError, OSError) as exc:
                warnings.append(f"report.pdf not written: {exc}")
    return warnings


def write_bundle(report_path: Path, facts: Facts | None, signer: Signer, pdf: bool = True) -> tuple[str, list[str]]:
    """Render next to report.json, add evidence (when facts are given), sign; return (fingerprint, warnings)."""
    out_dir = report_path.parent
    report = json.loads(report_path.read_text(encoding="utf-8"))
    warnings = render_all(report, out_dir, pdf)
    if facts is not None:
        write_evidence(facts, out_dir)
    return sign_bundle(out_dir, signer), warnings
