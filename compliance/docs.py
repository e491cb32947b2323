"""docs/controls.md, generated from the catalog (the source of truth)."""

from __future__ import annotations

from compliance.controls import catalog
from compliance.hipaa import PARAGRAPHS, SECTIONS, section_of

HEADER = """# phistack controls

Generated from the catalog by `phistack controls-docs --write docs/controls.md`; do not edit by hand
(a test fails when this file is stale). Each automated control is one pure function over facts, evaluated
the same way on a plan (`phistack check`) and on a live account (`phistack audit`). A control whose facts
could not be collected is ERROR (live) or NOT_APPLICABLE (a plan cannot know it), never PASS or FAIL.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _crosswalk() -> list[str]:
    from compliance.prowler import CROSSWALK, PROWLER_VERSION

    kinds = {k: sum(a.kind == k for a in CROSSWALK.values()) for k in ("same", "stricter", "not-applicable", "gap")}
    lines = [
        "",
        f"## Prowler's HIPAA checks (hipaa_aws, prowler {PROWLER_VERSION}), side by side\n",
        "Every check of Prowler's HIPAA framework on a service this stack uses or audits, and what judges the same "
        "condition here (`compliance/prowler.py`; a test reads the framework from the pinned package). "
        f"{kinds['same']} same, {kinds['stricter']} stricter (fails whatever Prowler's check fails), "
        f"{kinds['not-applicable']} not applicable to this stack, {kinds['gap']} gaps: not judged yet, so phistack "
        "can pass what Prowler fails there. Checks on services the stack does not use (API Gateway, Lambda, "
        "CloudFront, DynamoDB, EFS, EKS, EMR, OpenSearch, Redshift, SageMaker, Secrets Manager) are not listed.\n",
        "| Prowler check | here | kind | note |",
        "|---|---|---|---|",
    ]
    for check, answer in sorted(CROSSWALK.items()):
        here = ", ".join(f"`{c}`" for c in answer.controls) or "-"
        lines.append(f"| `{check}` | {here} | {answer.kind} | {_cell(answer.why)} |")
    return lines


def render_markdown() -> str:
    controls = catalog()
    lines = [
        HEADER,
        f"{sum(c.automated for c in controls)} automated and {sum(not c.automated for c in controls)} "
        "manual controls.\n",
        "## Controls\n",
        "| control | HIPAA | severity | what it checks | remediation |",
        "|---|---|---|---|---|",
    ]
    for c in controls:
        kind = "" if c.automated else " *(manual)*"
        what = c.title + ". " + c.rationale
        fix = c.remediation if c.automated else f"{c.remediation} Evidence to request: {c.manual_evidence}"
        lines.append(f"| `{c.id}`{kind} | {', '.join(c.hipaa)} | {c.severity} | {_cell(what)} | {_cell(fix)} |")
    lines += ["", "## By HIPAA paragraph\n", "| paragraph | title | controls |", "|---|---|---|"]
    for paragraph, title in PARAGRAPHS.items():
        ids = [c.id for c in controls if paragraph in c.hipaa]
        if ids:
            lines.append(
                f"| {paragraph} ({SECTIONS[section_of(paragraph)].split()[0].lower()}) | {title} | "
                f"{', '.join(f'`{i}`' for i in ids)} |"
            )
    lines += _crosswalk()
    lines += [
        "",
        "## AWS permissions the live audit needs\n",
        "```",
        *sorted({p for c in controls for p in c.permissions}),
        "```",
        "",
    ]
    return "\n".join(lines)
