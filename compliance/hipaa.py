"""The HIPAA Security Rule's paragraphs (45 CFR 164.308, .310, .312, .316) as data.

Every citation a control carries must be one of these paragraphs; ``tests/compliance/test_catalog.py`` checks.
Titles follow the regulation's own headings (standards and implementation specifications).
"""

from __future__ import annotations

from typing import Final

SECTIONS: Final[dict[str, str]] = {
    "164.308": "Administrative safeguards",
    "164.310": "Physical safeguards",
    "164.312": "Technical safeguards",
    "164.316": "Policies and procedures and documentation requirements",
}

PARAGRAPHS: Final[dict[str, str]] = {
    # 164.308 Administrative safeguards
    "164.308(a)(1)(i)": "Security management process",
    "164.308(a)(1)(ii)(A)": "Risk analysis",
    "164.308(a)(1)(ii)(B)": "Risk management",
    "164.308(a)(1)(ii)(C)": "Sanction policy",
    "164.308(a)(1)(ii)(D)": "Information system activity review",
    "164.308(a)(2)": "Assigned security responsibility",
    "164.308(a)(3)(i)": "Workforce security",
    "164.308(a)(3)(ii)(A)": "Authorization and/or supervision",
    "164.308(a)(3)(ii)(B)": "Workforce clearance procedure",
    "164.308(a)(3)(ii)(C)": "Termination procedures",
    "164.308(a)(4)(i)": "Information access management",
    "164.308(a)(4)(ii)(A)": "Isolating health care clearinghouse functions",
    "164.308(a)(4)(ii)(B)": "Access authorization",
    "164.308(a)(4)(ii)(C)": "Access establishment and modification",
    "164.308(a)(5)(i)": "Security awareness and training",
    "164.308(a)(5)(ii)(A)": "Security reminders",
    "164.308(a)(5)(ii)(B)": "Protection from malicious software",
    "164.308(a)(5)(ii)(C)": "Log-in monitoring",
    "164.308(a)(5)(ii)(D)": "Password management",
    "164.308(a)(6)(i)": "Security incident procedures",
    "164.308(a)(6)(ii)": "Response and reporting",
    "164.308(a)(7)(i)": "Contingency plan",
    "164.308(a)(7)(ii)(A)": "Data backup plan",
    "164.308(a)(7)(ii)(B)": "Disaster recovery plan",
    "164.308(a)(7)(ii)(C)": "Emergency mode operation plan",
    "164.308(a)(7)(ii)(D)": "Testing and revision procedures",
    "164.308(a)(7)(ii)(E)": "Applications and data criticality analysis",
    "164.308(a)(8)": "Evaluation",
    "164.308(b)(1)": "Business associate contracts and other arrangements",
    "164.308(b)(2)": "Subcontractor assurances",
    "164.308(b)(3)": "Written contract or other arrangement",
    # 164.310 Physical safeguards
    "164.310(a)(1)": "Facility access controls",
    "164.310(a)(2)(i)": "Contingency operations",
    "164.310(a)(2)(ii)": "Facility security plan",
    "164.310(a)(2)(iii)": "Access control and validation procedures",
    "164.310(a)(2)(iv)": "Maintenance records",
    "164.310(b)": "Workstation use",
    "164.310(c)": "Workstation security",
    "164.310(d)(1)": "Device and media controls",
    "164.310(d)(2)(i)": "Disposal",
    "164.310(d)(2)(ii)": "Media re-use",
    "164.310(d)(2)(iii)": "Accountability",
    "164.310(d)(2)(iv)": "Data backup and storage",
    # 164.312 Technical safeguards
    "164.312(a)(1)": "Access control",
    "164.312(a)(2)(i)": "Unique user identification",
    "164.312(a)(2)(ii)": "Emergency access procedure",
    "164.312(a)(2)(iii)": "Automatic logoff",
    "164.312(a)(2)(iv)": "Encryption and decryption",
    "164.312(b)": "Audit controls",
    "164.312(c)(1)": "Integrity",
    "164.312(c)(2)": "Mechanism to authenticate electronic protected health information",
    "164.312(d)": "Person or entity authentication",
    "164.312(e)(1)": "Transmission security",
    "164.312(e)(2)(i)": "Integrity controls",
    "164.312(e)(2)(ii)": "Encryption",
    # 164.316 Policies and procedures and documentation requirements
    "164.316(a)": "Policies and procedures",
    "164.316(b)(1)": "Documentation",
    "164.316(b)(2)(i)": "Time limit",
    "164.316(b)(2)(ii)": "Availability",
    "164.316(b)(2)(iii)": "Updates",
}


def section_of(citation: str) -> str:
    """'164.312(b)' -> '164.312'."""
    return citation.split("(", 1)[0]


def is_real_paragraph(citation: str) -> bool:
    return citation in PARAGRAPHS
