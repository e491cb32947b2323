"""Benchmark: `phistack plan` of the example client against the import floor, measured in the same run.

Also times `phistack check --client example` (plan plus every pre-deploy control) against the same floor.
The floor is a Python process that only imports pulumi and what the program uses of pulumi_aws: every
`aws.<service>.<Name>` found in infra/ is imported as `from pulumi_aws.<service> import <Name>`. (Importing
`pulumi_aws.<service>` alone loads nothing: the package loads its resource modules lazily.) Target: plan at
most 2x the floor. Each command runs --runs times (default 5); medians are compared.

    .venv/bin/python bench/plan.py [--runs N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def names_used() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in (ROOT / "infra").rglob("*.py"):
        found.update(re.findall(r"\baws\.([a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_]*)", path.read_text()))
        found.update(("", n) for n in re.findall(r"\baws\.([A-Z][A-Za-z]+|get_[a-z_]+)\(", path.read_text()))
    return sorted(found)


def timed(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    names = names_used()
    services = sorted({s for s, _ in names if s})
    floor_code = "import pulumi, pulumi_aws\n" + "".join(
        f"from pulumi_aws{'.' + s if s else ''} import {n}\n" for s, n in names
    )
    with tempfile.TemporaryDirectory() as tmp:
        floor = timed([sys.executable, "-c", floor_code], args.runs)
        plan = timed(
            [sys.executable, "-m", "phistack", "plan", "--client", "example", "--out", f"{tmp}/plan.json"], args.runs
        )
        check = timed(
            [sys.executable, "-m", "phistack", "check", "--client", "example", "--out", f"{tmp}/check"], args.runs
        )
    f, p, c = statistics.median(floor), statistics.median(plan), statistics.median(check)
    print(f"floor imports {len(names)} names from {len(services)} services: {', '.join(services)}")
    print(f"floor  (import pulumi + {len(names)} pulumi_aws names):    median {f:.3f} s  runs {floor}")
    print(f"phistack plan --client example:                  median {p:.3f} s  runs {plan}")
    print(f"phistack check --client example (plan + checks): median {c:.3f} s  runs {check}")
    for label, value in (("plan", p), ("plan + check", c)):
        verdict = "OK" if value / f <= 2.0 else "OVER TARGET"
        print(f"ratio {label} / floor: {value / f:.2f}x  (target <= 2.00x) -> {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
