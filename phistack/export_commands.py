"""`phistack report export DIR --format asff|ocsf [--to-security-hub]`: an assessment's findings in the formats
a client's security team already reads, from report.json (compliance/reports/asff.py, ocsf.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from phistack.errors import EXIT_INCOMPLETE, EXIT_OK, NotTrusted, PhistackError, UsageError


def _bundle_of(path: Path) -> Path | None:
    """The signed bundle DIR (or DIR/report.json) belongs to, if it is one."""
    from compliance.reports.bundle import MANIFEST

    folder = path if path.is_dir() else path.parent
    return folder if (folder / MANIFEST).is_file() else None


def _trusted_report(path: Path, public_key: str | None) -> tuple[dict[str, Any], str]:
    """report.json, read only after its bundle verifies; a bare report.json is read as it is, and said so."""
    from compliance.reports.bundle import MANIFEST, verify_bundle
    from phistack.pipeline import load_report

    bundle = _bundle_of(path)
    if bundle is not None:
        result = verify_bundle(bundle, Path(public_key) if public_key else None)
        if not result.intact:
            raise NotTrusted(f"{bundle}: not exported, the bundle does not verify: {result.problems[0]}")
        how = "the given public key" if result.trusted_key else "the key inside the bundle"
        return load_report(bundle), f"bundle verified ({result.key_fingerprint}, {how})"
    if public_key:
        raise UsageError(f"--public-key: {path} is not a signed bundle (no {MANIFEST}), so there is nothing to verify.")
    return load_report(path), "not verified: a bare report.json carries no signature"


def _write(out: Path, document: Any, source: Path) -> None:
    bundle = _bundle_of(source)
    if bundle is not None and out.resolve().is_relative_to(bundle.resolve()):
        raise UsageError(f"--out {out}: is inside {bundle}, whose manifest would then no longer verify.")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist.")
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(out)  # all or nothing: a reader never sees half a file


def cmd_report_export(args: argparse.Namespace) -> int:
    from compliance.reports.asff import problems, render_asff
    from compliance.reports.ocsf import render_ocsf

    if args.to_security_hub and args.format != "asff":
        raise UsageError("--to-security-hub sends ASFF; it cannot be combined with --format ocsf.")
    path = Path(args.dir)
    report, provenance = _trusted_report(path, args.public_key)
    render = render_asff if args.format == "asff" else render_ocsf
    document = render(report, failing_only=args.failing_only)
    if args.format == "asff":
        for finding in document:
            found = problems(finding)
            if found:  # our own mistake: never sent, never written
                raise PhistackError(f"finding {finding['Id']} is not valid ASFF: {found[0]}")
    if args.out:
        _write(Path(args.out), document, path)
    elif not args.to_security_hub:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    told = sys.stderr if not args.out and not args.to_security_hub else sys.stdout
    where = f" to {args.out}" if args.out else ""
    print(f"{len(document)} {args.format.upper()} findings{where} from {path}: {provenance}.", file=told)  # noqa: T201
    if not args.to_security_hub:
        return EXIT_OK
    return _to_security_hub(args, report, document)


def _to_security_hub(args: argparse.Namespace, report: dict[str, Any], findings: list[dict[str, Any]]) -> int:
    import boto3
    import botocore.exceptions

    from phistack.securityhub import check_account, import_findings

    target = report["target"]
    if target["kind"] != "live":
        raise UsageError(f"--to-security-hub: {args.dir} assesses a {target['kind']}, not a live account.")
    try:
        session = boto3.Session(profile_name=args.profile)
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(f"--profile {args.profile!r}: no such AWS profile.") from None
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    check_account(session, target["account"], target["regions"][0], endpoint)
    results = import_findings(session, findings, target["account"], list(target["regions"]), endpoint)
    for result in results:
        print(  # noqa: T201
            f"Security Hub {target['account']} {result.region}: {result.imported} imported, "
            f"{result.archived} no longer reported and archived, {len(result.failed)} failed"
        )
        for failure in result.failed:
            print(f"  {failure}", file=sys.stderr)  # noqa: T201
    return EXIT_INCOMPLETE if any(r.failed for r in results) else EXIT_OK


def add_parser(actions: Any) -> None:
    export = actions.add_parser(
        "export", help="findings as AWS Security Hub ASFF or OCSF JSON, from a bundle's report.json"
    )
    export.add_argument("dir", metavar="DIR", help="an assessment bundle (verified first), or a report.json")
    export.add_argument("--format", choices=("asff", "ocsf"), default="asff", help="default: asff")
    export.add_argument("--out", metavar="FILE", help="write the findings here (default: standard output)")
    export.add_argument("--failing-only", action="store_true", help="only FAIL, ERROR and WAIVED findings")
    export.add_argument("--public-key", metavar="PEM", help="verify the bundle against this key, obtained elsewhere")
    export.add_argument(
        "--to-security-hub",
        action="store_true",
        help="import into the audited account's Security Hub (BatchImportFindings), archiving retired findings",
    )
    export.add_argument("--profile", help="AWS profile in the audited account (for --to-security-hub)")
    export.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (an emulator); or AWS_ENDPOINT_URL")
    export.set_defaults(func=cmd_report_export)
