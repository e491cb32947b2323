"""`phistack fleet audit FLEET.yaml`: the command line around phistack.fleet."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from phistack.errors import UsageError

STATUS_COLUMNS = ("PASS", "FAIL", "ERROR", "WAIVED")


def _signer_factory(args: argparse.Namespace) -> Any:
    """One signer for every client with --signing-key or --sign-with; else each client's own default key."""
    from phistack.pipeline import signer_for

    if args.sign_with or args.signing_key:
        shared, _ = signer_for(args, "fleet")
        return lambda client: shared
    return lambda client: signer_for(args, client.name)[0]


def _print_table(document: dict[str, Any], run: Path) -> None:
    rows = [("client", "account", "outcome", "worst", *STATUS_COLUMNS, "changed")]
    for c in document["clients"]:
        counts = [str(c["summary"].get(s, "")) for s in STATUS_COLUMNS]
        previous = c["previous"]
        changed = "-" if previous is None else "NOT TRUSTED" if not previous["trusted"] else str(len(c["changes"]))
        rows.append((c["name"], c["account"], c["outcome"], c["worst_severity"] or "", *counts, changed))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for c in document["clients"]:
        if c["reason"]:
            lines.append(f"{c['name']}: {c['reason']}")
        if c["previous"] is not None and not c["previous"]["trusted"]:
            lines.append(
                f"{c['name']}: previous bundle {c['previous']['bundle']} not trusted: {c['previous']['problems'][0]}"
            )
    totals = document["totals"]
    if totals["incomplete"]:
        some = f"{totals['incomplete']} of {totals['clients']} clients"
        lines.insert(0, f"incomplete: {some} had controls that could not be judged (ERROR); none of them is clean")
    lines.append(
        f"{totals['clients']} clients in {document['seconds']} s: {totals['clean']} clean, {totals['failed']} failed,"
        f" {totals['incomplete']} incomplete, {totals['unreachable']} not reached; wrote {run / 'fleet.html'}"
    )
    print("\n".join(lines))  # noqa: T201


def cmd_fleet_audit(args: argparse.Namespace) -> int:
    import boto3
    import botocore.exceptions

    from compliance.reports.bundle import sign_bundle
    from compliance.reports.fleet import render_fleet_html
    from phistack.fleet import Fleet, fleet_exit_code, prepare, run_folder, summary_document
    from phistack.fleet_file import read_fleet
    from phistack.pipeline import signer_for

    if args.clients < 1 or args.workers < 1 or args.max_attempts < 1:
        raise UsageError("--clients, --workers and --max-attempts must be at least 1.")
    previous = Path(args.previous) if args.previous else None
    if previous is not None and not previous.is_dir():
        raise UsageError(f"--previous {previous}: is not a directory (a run folder of an earlier fleet audit).")
    fleet_path = Path(args.fleet_file)
    clients = read_fleet(fleet_path)
    try:
        base = boto3.Session(profile_name=args.profile)
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(f"--profile {args.profile!r}: no such AWS profile.") from None
    prepared = prepare(clients, _signer_factory(args))
    fleet_name = "fleet-" + (re.sub(r"[^a-z0-9-]", "-", fleet_path.stem.lower()) or "fleet")
    fleet_signer, described = signer_for(args, fleet_name)
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    now = dt.datetime.now(dt.UTC)
    run = run_folder(Path(args.out), now)
    started = time.perf_counter()
    fleet = Fleet(base, endpoint, args.workers, args.max_attempts, pdf=not args.no_pdf)
    outcomes = fleet.run(prepared, run, args.clients, previous)
    seconds = round(time.perf_counter() - started, 3)
    settings = {"clients_at_once": args.clients, "workers": args.workers, "max_attempts": args.max_attempts}
    document = summary_document(outcomes, fleet_path, settings, seconds, now)
    (run / "fleet.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (run / "fleet.html").write_text(render_fleet_html(document), encoding="utf-8")
    fingerprint = sign_bundle(run, fleet_signer)
    _print_table(document, run)
    print(f"run signed with {described} ({fingerprint}); verify with: phistack report verify {run}")  # noqa: T201
    return fleet_exit_code(outcomes)


def add_parsers(sub: Any, bundle_options: Any) -> None:
    fleet = sub.add_parser("fleet", help="audit every client of a fleet file in one run")
    actions = fleet.add_subparsers(dest="action", required=True, metavar="ACTION")
    audit = actions.add_parser(
        "audit", help="assume each client's audit role, audit its account, and summarise the fleet with its drift"
    )
    audit.add_argument("fleet_file", metavar="FLEET_YAML", help="the clients: name, account, regions, role_arn, ...")
    audit.add_argument("--out", required=True, metavar="DIR", help="runs go to DIR/<UTC time>/; earlier runs stay")
    audit.add_argument("--previous", metavar="RUN_DIR", help="compare with this run (default: the newest in --out)")
    audit.add_argument("--profile", help="the auditor's own AWS profile, which assumes the clients' roles")
    audit.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (an emulator); or AWS_ENDPOINT_URL")
    audit.add_argument("--clients", type=int, default=4, help="accounts audited at the same time (default 4)")
    audit.add_argument("--workers", type=int, default=8, help="concurrent API calls per account (default 8)")
    audit.add_argument("--max-attempts", type=int, default=4, help="attempts per API call (default 4)")
    bundle_options(audit)
    audit.set_defaults(func=cmd_fleet_audit)
