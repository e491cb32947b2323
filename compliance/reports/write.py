"""Write the whole bundle for an assessment: report.json first (canonical), everything else from it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from compliance.facts import Facts
from compliance.reports.bundle import Signer, sign_bundle
from compliance.reports.evidence import write_evidence
from compliance.reports.html import render_html
from compliance.reports.junit import render_junit
from compliance.reports.oscal import render_oscal
from compliance.reports.pdf import WarmChromium, find_chromium, render_pdf

log = logging.getLogger(__name__)


def render_all(
    report: dict[str, Any],
    out_dir: Path,
    pdf: bool = True,
    printer: WarmChromium | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[str]:
    """Render HTML, JUnit, OSCAL and (if Chromium is present) PDF from report.json; return warnings. The PDF
    prints (in Chromium) while the rest is written, and ``meanwhile`` runs; ``printer``: a Chromium started
    earlier (``WarmChromium``), else one is started for the page."""
    html = out_dir / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=1) as pool:
        printing = pool.submit(_print, html, out_dir / "report.pdf", printer) if pdf else None
        (out_dir / "junit.xml").write_text(render_junit(report), encoding="utf-8")
        oscal = json.dumps(render_oscal(report), indent=1) + "\n"
        (out_dir / "oscal-assessment-results.json").write_text(oscal, encoding="utf-8")
        if meanwhile is not None:
            meanwhile()
        problem = printing.result() if printing is not None else None
    return [f"report.pdf not written: {problem}"] if problem else []


def _print(html: Path, pdf: Path, printer: WarmChromium | None) -> str | None:
    """Print the page; why not, if it could not be."""
    try:
        if printer is not None:
            printer.print_pdf(html, pdf)
            return None
        chromium = find_chromium()
        if chromium is None:
            return "no Chromium found (apt-get install chromium-headless-shell)."
        render_pdf(html, pdf, chromium)
    except (RuntimeError, OSError) as exc:
        return str(exc)
    return None


def write_bundle(
    report_path: Path, facts: Facts | None, signer: Signer, pdf: bool = True, printer: WarmChromium | None = None
) -> tuple[str, list[str]]:
    """Render next to report.json, add evidence (when facts are given) while the PDF prints, sign; return
    (fingerprint, warnings)."""
    out_dir = report_path.parent
    report = json.loads(report_path.read_text(encoding="utf-8"))
    evidence = (lambda: write_evidence(facts, out_dir)) if facts is not None else None
    warnings = render_all(report, out_dir, pdf, printer, evidence)
    return sign_bundle(out_dir, signer), warnings
