"""Add up pytest's JUnit files from CI's lanes into one closing line, and refuse skips CI must never have.

    python scripts/junit_total.py LANE.xml...

Prints every skipped test with its reason, then `pytest: N passed, N failed, N skipped` (failed counts errors too).
Exit 1 when a test failed or errored, when a lane wrote no file (it never got to run), or, under CI (CI=true), when
a test was skipped for any reason but "on demand: ..." (the tests that need what CI does not have, such as a 5 GB
vLLM bundle): a machine that lacks a tool the tests need must fail the build, not pass it with the tests unrun.
Standard library only.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ALLOWED_SKIP = "on demand:"


@dataclass
class Totals:
    passed: int = 0
    failed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def read(path: Path, totals: Totals) -> None:
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        skip = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            totals.failed += 1
        elif skip is not None:
            if skip.get("type") == "pytest.xfail":
                totals.passed += 1  # an expected failure that failed as expected
            else:
                totals.skipped.append((name, skip.get("message", "")))
        else:
            totals.passed += 1


def main(argv: list[str]) -> int:
    totals = Totals()
    missing = [p for p in argv if not Path(p).is_file()]
    for path in argv:
        if path not in missing:
            read(Path(path), totals)
    for name, reason in totals.skipped:
        print(f"skipped: {name}: {reason}")  # noqa: T201
    for path in missing:
        print(f"no test results in {path}: that lane did not run its tests")  # noqa: T201
    unexpected = [n for n, reason in totals.skipped if ALLOWED_SKIP not in reason]
    if os.environ.get("CI") == "true" and unexpected:
        print(f"{len(unexpected)} tests skipped under CI for a reason other than '{ALLOWED_SKIP}': CI runs them all")  # noqa: T201
    print(f"pytest: {totals.passed} passed, {totals.failed} failed, {len(totals.skipped)} skipped")  # noqa: T201
    bad = totals.failed or missing or (os.environ.get("CI") == "true" and unexpected)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
