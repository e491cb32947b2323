"""What no API can show, answered from the client's attestations, or left MANUAL with what to ask for."""

from __future__ import annotations

from compliance.model import Control

CONTROLS: tuple[Control, ...] = (
    Control(
        "manual-baa-aws",
        "A BAA with AWS covers the account",
        "critical",
        ("164.308(b)(1)", "164.308(b)(3)"),
        "Using AWS for PHI without the AWS Business Associate Addendum breaches HIPAA whatever the configuration.",
        "Accept the AWS BAA in AWS Artifact for the account (or the organization).",
        ("attestations",),
        (),
        manual_evidence="The AWS Artifact agreement record (BAA accepted, account or organization, date) "
        "and attestation baa_aws_signed.",
    ),
    Control(
        "manual-baa-client",
        "A BAA between the operator and the client is signed",
        "critical",
        ("164.308(b)(1)", "164.308(b)(3)"),
        "Whoever runs the stack for the clinic is its business associate and needs a written contract.",
        "Sign a BAA with the covered entity before any PHI is loaded.",
        ("attestations",),
        (),
        manual_evidence="The signed BAA (parties, date, scope) and attestation baa_client_signed.",
    ),
    Control(
        "manual-risk-analysis",
        "A risk analysis covers this deployment",
        "high",
        ("164.308(a)(1)(ii)(A)", "164.308(a)(1)(ii)(B)"),
        "The Security Rule starts from an accurate, thorough assessment of risks to ePHI.",
        "Perform and document a risk analysis that includes this stack; repeat after significant changes.",
        ("attestations",),
        (),
        manual_evidence="The dated risk analysis document and attestation risk_analysis_completed.",
    ),
    Control(
        "manual-workforce-training",
        "Staff with access completed security training",
        "medium",
        ("164.308(a)(5)(i)",),
        "People with access to the gateway and the account must know their obligations.",
        "Run security awareness training for everyone with access, and record completion.",
        ("attestations",),
        (),
        manual_evidence="Training records (names, dates, content) and attestation workforce_training_completed.",
    ),
    Control(
        "manual-contingency-plan",
        "The contingency plan was tested",
        "high",
        ("164.308(a)(7)(i)", "164.308(a)(7)(ii)(D)"),
        "Backups and restores that were never tested are not a plan.",
        "Test a restore of the vector store and documents and a rebuild of the hosts; record the result.",
        ("attestations",),
        (),
        manual_evidence="The test record (what was restored, how long it took) "
        "and attestation contingency_plan_tested.",
    ),
)

# control id -> attestation key in the client config
ATTESTATION_KEYS: dict[str, str] = {
    "manual-baa-aws": "baa_aws_signed",
    "manual-baa-client": "baa_client_signed",
    "manual-risk-analysis": "risk_analysis_completed",
    "manual-workforce-training": "workforce_training_completed",
    "manual-contingency-plan": "contingency_plan_tested",
}
