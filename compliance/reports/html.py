"""report.html: one self-contained file (inline CSS and SVG, no external assets) that prints well."""

from __future__ import annotations

from html import escape
from typing import Any

import jinja2

from compliance.hipaa import SECTIONS
from compliance.reports.summary import CHART_STATUSES, STATUSES, by_section, incomplete_line, paragraph_title, unjudged

COLORS = {"PASS": "#1b7f3b", "FAIL": "#b3261e", "ERROR": "#8a5300", "WAIVED": "#5b4da6", "MANUAL": "#1d5fa8"}


def chart_svg(sections: dict[str, dict[str, int]]) -> str:
    """Horizontal stacked bars, one per HIPAA section, of PASS/FAIL/ERROR/WAIVED/MANUAL control counts."""
    width, label_w, bar_h, gap = 640, 170, 22, 10
    scale_max = max([sum(c[s] for s in CHART_STATUSES) for c in sections.values()] + [1])
    unit = (width - label_w - 40) / scale_max
    rows = []
    for i, (section, counts) in enumerate(sections.items()):
        y = i * (bar_h + gap)
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="11">{escape(section)} {escape(SECTIONS[section].split()[0])}</text>'
        )
        x = float(label_w)
        for status in CHART_STATUSES:
            n = counts[status]
            if not n:
                continue
            w = n * unit
            rows.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{COLORS[status]}">'
                f"<title>{status}: {n}</title></rect>"
            )
            if w >= 16:
                rows.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 15}" font-size="10" fill="#fff" text-anchor="middle">{n}</text>'
                )
            x += w
        total = sum(counts[s] for s in CHART_STATUSES)
        rows.append(f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="10" fill="#444">{total}</text>')
    height = len(sections) * (bar_h + gap)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="Controls by HIPAA section and status">' + "".join(rows) + "</svg>"
    )


def environment() -> jinja2.Environment:
    """The reports' templates: escaped, and an unknown name is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("compliance.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: dict[str, Any]) -> str:
    env = environment()
    sections = by_section(report)
    target = report["target"]
    return env.get_template("report.html.j2").render(
        report=report,
        target_name=target.get("client") or f"account {target['account']}",
        automated=sum(1 for c in report["controls"] if c.get("automated", True)),
        statuses=STATUSES,
        chart_statuses=CHART_STATUSES,
        sections=sections,
        section_names=SECTIONS,
        chart=chart_svg(sections),
        paragraph_title=paragraph_title,
        incomplete=incomplete_line(unjudged(report["controls"])),
    )
