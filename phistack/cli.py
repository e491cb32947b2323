"""``phistack``: argument parsing, one red line per error, and the house exit codes.

0 clean · 1 controls failed · 2 bad input or usage · 3 could not complete.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from phistack import __version__
from phistack.errors import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, PhistackError, UsageError
from phistack.pipeline import (
    assess_and_write,
    context_of,
    exit_code,
    find_project_dir,
    live_facts,
    load_report,
    out_file,
    plan_document,
    prepare_reports,
    signer_for,
    stack_file,
    warm_printer,
)

log = logging.getLogger("phistack")


def _error(message: str) -> None:
    red, reset = ("\033[31m", "\033[0m") if sys.stderr.isatty() else ("", "")
    for line in message.splitlines():
        print(f"{red}phistack: error: {line}{reset}", file=sys.stderr)  # noqa: T201


def cmd_plan(args: argparse.Namespace) -> int:
    from infra.config import parse_client_config
    from infra.plan import run_plan, write_plan
    from infra.stackfile import read_stack_config

    path, stack = stack_file(args)
    raw = read_stack_config(path)
    cfg = parse_client_config(raw, str(path))
    out = out_file(Path(args.out), "--out")
    plan = run_plan(cfg, raw, stack)
    write_plan(plan, raw, out)
    summary = plan.summary()
    width = max(len(k) for k in summary)
    lines = [
        f"plan of {cfg.client} ({cfg.region}, {cfg.model.name} on {cfg.gpu.count} x {cfg.gpu.instance_type})",
        f"  {'component'.ljust(width)}  resources",
    ]
    lines += [f"  {k.ljust(width)}  {v:>9}" for k, v in summary.items()]
    lines += [f"  {'total'.ljust(width)}  {sum(summary.values()):>9}", f"wrote {out}"]
    from phistack.cost_commands import summary_line

    lines.append(summary_line(plan.to_json(raw), cfg))
    print("\n".join(lines))  # noqa: T201
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from compliance.controls import by_id
    from compliance.sources.plan import facts_from_plan
    from compliance.waivers import load_waivers

    waivers = load_waivers(Path(args.waivers), set(by_id())) if args.waivers else []
    facts = facts_from_plan(plan_document(args))
    return exit_code(assess_and_write(args, facts, waivers))


def _context_for(args: argparse.Namespace) -> Any:
    """The client's expectations when --client/--config is given; the defaults otherwise."""
    from compliance.facts import Context

    if args.client is None and args.config is None:
        return Context()
    from infra.config import parse_client_config  # pydantic: a sixth of a second, only when a client is named
    from infra.stackfile import read_stack_config

    path, _ = stack_file(args)
    return context_of(parse_client_config(read_stack_config(path), str(path)))


def cmd_audit(args: argparse.Namespace) -> int:
    import boto3
    import botocore.exceptions

    from compliance.controls import by_id
    from compliance.waivers import load_waivers

    waivers = load_waivers(Path(args.waivers), set(by_id())) if args.waivers else []
    context = _context_for(args)
    try:
        session = boto3.Session(profile_name=args.profile)
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(f"--profile {args.profile!r}: no such AWS profile.") from None
    regions = args.region or [session.region_name or "us-east-1"]
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    started = time.perf_counter()
    evidence = Path(args.host_evidence) if args.host_evidence else None
    with warm_printer(args) as printer:  # Chromium starts while the API calls are in flight
        prepare_reports()  # and the report writers are loaded meanwhile
        with _progress("collecting facts") as advance:
            facts, scan = live_facts(
                session, regions, endpoint, context, evidence,
                workers=args.workers, progress=advance, max_attempts=args.max_attempts,
            )  # fmt: skip
        seconds = round(time.perf_counter() - started, 3)
        assessment = assess_and_write(args, facts, waivers, scan, printer, workers=args.workers, seconds=seconds)
    return exit_code(assessment)


class _progress:  # noqa: N801 - used as a context manager
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=None)
        return lambda done, total: self.bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def cmd_report_verify(args: argparse.Namespace) -> int:
    from compliance.reports.bundle import verify_bundle

    result = verify_bundle(Path(args.dir), Path(args.public_key) if args.public_key else None)
    if not result.intact:
        _error(f"{args.dir}: {result.problems[0]}")
        for more in result.problems[1:]:
            _error(f"{args.dir}: {more}")
        return EXIT_FAILED
    trust = (
        "the given public key"
        if result.trusted_key
        else ("the key inside the bundle only: pass --public-key with a key obtained elsewhere to trust it")
    )
    print(f"{args.dir}: intact; every file matches the manifest, signed by {result.key_fingerprint} ({trust}).")  # noqa: T201
    return EXIT_OK


def cmd_report_diff(args: argparse.Namespace) -> int:
    from compliance.reports.diff import diff_reports

    lines = diff_reports(load_report(Path(args.old)), load_report(Path(args.new)))
    print("\n".join(lines) if lines else "no change")  # noqa: T201
    return EXIT_FAILED if lines else EXIT_OK


def cmd_report_render(args: argparse.Namespace) -> int:
    from compliance.reports.bundle import sign_bundle
    from compliance.reports.write import render_all

    folder = Path(args.dir)
    report = load_report(folder)
    for warning in render_all(report, folder, pdf=not args.no_pdf):
        log.warning("%s", warning)
    signer, described = signer_for(args, report["target"].get("client") or report["target"]["account"])
    print(f"rendered and re-signed {folder} with {described} ({sign_bundle(folder, signer)})")  # noqa: T201
    return EXIT_OK


def _bundle_options(parser: argparse.ArgumentParser) -> None:
    signing = parser.add_mutually_exclusive_group()
    signing.add_argument("--sign-with", metavar="kms:ALIAS", help="sign with an AWS KMS ECC_NIST_P256 key instead")
    signing.add_argument(
        "--signing-key",
        metavar="PEM",
        help="Ed25519 key to sign with (default: the client's, made on first use under ~/.config/phistack/keys)",
    )
    parser.add_argument("--no-pdf", action="store_true", help="do not print report.pdf with Chromium")


def cmd_config_docs(args: argparse.Namespace) -> int:
    from infra.config_docs import render_markdown, update_readme

    if args.write:
        changed = update_readme(Path(args.write))
        print(f"{'updated' if changed else 'unchanged'} {args.write}")  # noqa: T201
    else:
        print(render_markdown())  # noqa: T201
    return EXIT_OK


def cmd_controls_docs(args: argparse.Namespace) -> int:
    from compliance.docs import render_markdown

    text = render_markdown()
    if args.write:
        path = Path(args.write)
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{'updated' if changed else 'unchanged'} {path}")  # noqa: T201
    else:
        print(text)  # noqa: T201
    return EXIT_OK


def cmd_roles_docs(args: argparse.Namespace) -> int:
    from infra.hosts.roles_docs import stale, write

    playbooks = (Path(args.project_dir) if args.project_dir else find_project_dir(Path.cwd())) / "playbooks"
    if args.write:
        for path in write(playbooks):
            print(path)  # noqa: T201
        return EXIT_OK
    outdated = stale(playbooks)
    for path in outdated:
        _error(f"{path} is stale: run `phistack roles-docs --write`.")
    return EXIT_FAILED if outdated else EXIT_OK


def _target_options(parser: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--client", default="example", help="read Pulumi.NAME.yaml from the project (default: example)")
    which.add_argument("--config", metavar="PATH", help="read this stack file instead")
    parser.add_argument("--project-dir", metavar="DIR", help="project root holding Pulumi.yaml (default: search up)")
    return which


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phistack", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"phistack {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr (never PHI)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="run the Pulumi program offline under mocks and write plan.json")
    _target_options(plan)
    plan.add_argument("--out", default="plan.json", metavar="FILE", help="where to write the plan (default: plan.json)")
    plan.set_defaults(func=cmd_plan)

    check = sub.add_parser("check", help="evaluate the HIPAA controls on a plan (before anything is deployed)")
    _target_options(check).add_argument(
        "--plan", metavar="PLAN_JSON", help="check this plan.json instead of planning now"
    )
    check.add_argument("--waivers", metavar="FILE", help="YAML file of waivers (control, resource, justification, ...)")
    check.add_argument("--out", required=True, metavar="DIR", help="directory for report.json")
    _bundle_options(check)
    check.set_defaults(func=cmd_check)

    docs = sub.add_parser("config-docs", help="print the client config reference (Markdown), or update the README")
    docs.add_argument("--write", metavar="README", help="replace the generated section of this file")
    docs.set_defaults(func=cmd_config_docs)
    audit = sub.add_parser("audit", help="evaluate the HIPAA controls on a live (or emulated) AWS account")
    audit.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    audit.add_argument("--region", action="append", metavar="R", help="region to scan; repeat for several")
    audit.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (e.g. an emulator); or AWS_ENDPOINT_URL")
    audit.add_argument("--waivers", metavar="FILE", help="YAML file of waivers")
    audit.add_argument(
        "--host-evidence", metavar="DIR", help="host evidence from playbooks/verify.yml (the host-* controls)"
    )
    audit.add_argument("--workers", type=int, default=8, help="concurrent API calls (default 8)")
    audit.add_argument(
        "--max-attempts", type=int, default=4, help="attempts per API call, retries included (default 4)"
    )
    audit.add_argument("--out", required=True, metavar="DIR", help="directory for report.json")
    which = audit.add_mutually_exclusive_group()
    which.add_argument("--client", help="compare against Pulumi.NAME.yaml (retention, attestations, endpoints)")
    which.add_argument("--config", metavar="PATH", help="compare against this stack file")
    audit.add_argument("--project-dir", metavar="DIR", help="project root holding Pulumi.yaml (default: search up)")
    _bundle_options(audit)
    audit.set_defaults(func=cmd_audit)

    report = sub.add_parser("report", help="verify, compare, re-render or export assessment bundles")
    actions = report.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check every hash and the signature of a bundle")
    verify.add_argument("dir", metavar="DIR")
    verify.add_argument("--public-key", metavar="PEM", help="the signer's public key, obtained outside the bundle")
    verify.set_defaults(func=cmd_report_verify)
    diff = actions.add_parser("diff", help="what changed between two assessments (exit 1 when anything did)")
    diff.add_argument("old", metavar="OLD_DIR")
    diff.add_argument("new", metavar="NEW_DIR")
    diff.set_defaults(func=cmd_report_diff)
    render = actions.add_parser("render", help="rebuild HTML, PDF and JUnit from report.json, and re-sign")
    render.add_argument("dir", metavar="DIR")
    _bundle_options(render)
    render.set_defaults(func=cmd_report_render)
    from phistack.export_commands import add_parser as add_export_parser

    add_export_parser(actions)

    from phistack.sandbox_commands import add_parsers

    add_parsers(sub, _target_options, _bundle_options)
    from phistack.bundle_commands import add_parsers as add_bundle_parsers

    add_bundle_parsers(sub)
    from phistack.fleet_commands import add_parsers as add_fleet_parsers

    add_fleet_parsers(sub, _bundle_options)
    from phistack.cost_commands import add_parser as add_cost_parser

    add_cost_parser(sub, _target_options)

    roles_docs = sub.add_parser("roles-docs", help="check the Ansible roles' READMEs, or regenerate them (--write)")
    roles_docs.add_argument("--write", action="store_true", help="regenerate them from meta/argument_specs.yml")
    roles_docs.add_argument("--project-dir", help="the repository (default: found from the current directory)")
    roles_docs.set_defaults(func=cmd_roles_docs)

    controls = sub.add_parser("controls-docs", help="print the control catalog (Markdown), or write docs/controls.md")
    controls.add_argument("--write", metavar="FILE", help="write it to this file")
    controls.set_defaults(func=cmd_controls_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from compliance.errors import ComplianceError
    from infra.errors import InfraError
    from userfiles import UserFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        code: int = args.func(args)
        return code
    except (PhistackError, InfraError, ComplianceError, UserFileError) as exc:  # roots: a new kind is one line
        _error(str(exc))
        return int(exc.exit_code)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed pipe for the rest of the exit
        return EXIT_OK
    except KeyboardInterrupt:
        _error("interrupted.")
        return EXIT_INCOMPLETE
