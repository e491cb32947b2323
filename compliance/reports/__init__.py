"""Everything an auditor reads, rendered from report.json (the single source): HTML, JUnit, evidence files,
and the signed manifest that makes the bundle tamper-evident."""
