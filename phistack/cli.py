"""``phistack``: argument parsing, one red line per error, and the house exit codes.

0 clean · 1 controls failed · 2 bad input or usage · 3 could not complete.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from phistack import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
log = logging.getLogger("phistack")


class UsageError(Exception):
    """A command-line mistake the user can fix (exit 2)."""


def _error(message: str) -> None:
    red, reset = ("\033[31m", "\033[0m") if sys.stderr.isatty() else ("", "")
    for line in message.splitlines():
        print(f"{red}phistack: error: {line}{reset}", file=sys.stderr)  # noqa: T201


def find_project_dir(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    raise UsageError(f"No Pulumi.yaml in {start} or any parent; run inside the project or pass --project-dir.")


def stack_file(args: argparse.Namespace) -> tuple[Path, str]:
    """The stack file to read and the stack name, from --client NAME or --config PATH."""
    if args.config is not None:
        path = Path(args.config)
        name = path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
        return path, name or "stack"
    project = Path(args.project_dir) if args.project_dir else find_project_dir(Path.cwd())
    return project / f"Pulumi.{args.client}.yaml", args.client


def cmd_plan(args: argparse.Namespace) -> int:
    from infra.config import parse_client_config
    from infra.plan import run_plan, write_plan
    from infra.stackfile import read_stack_config

    path, stack = stack_file(args)
    raw = read_stack_config(path)
    cfg = parse_client_config(raw, str(path))
    plan = run_plan(cfg, raw, stack)
    out = Path(args.out)
    write_plan(plan, raw, out)
    summary = plan.summary()
    width = max(len(k) for k in summary)
    lines = [
        f"plan of {cfg.client} ({cfg.region}, {cfg.model.name} on {cfg.gpu.count} x {cfg.gpu.instance_type})",
        f"  {'component'.ljust(width)}  resources",
    ]
    lines += [f"  {k.ljust(width)}  {v:>9}" for k, v in summary.items()]
    lines += [f"  {'total'.ljust(width)}  {sum(summary.values()):>9}", f"wrote {out}"]
    print("\n".join(lines))  # noqa: T201
    return EXIT_OK


def _plan_document(args: argparse.Namespace) -> dict[str, Any]:
    """The plan to check: read from --plan, or made now from --client / --config."""
    if args.plan is not None:
        from compliance.planned import load_plan

        return load_plan(Path(args.plan))
    from infra.config import parse_client_config
    from infra.plan import run_plan
    from infra.stackfile import read_stack_config

    path, stack = stack_file(args)
    raw = read_stack_config(path)
    return run_plan(parse_client_config(raw, str(path)), raw, stack).to_json(raw)


def _print_summary(assessment: Any, report: Path) -> None:
    from compliance.model import Status

    target = assessment.facts
    lines = [f"{target.source} assessment of {target.context.client or target.account} ({', '.join(target.regions)})"]
    lines.append("  " + "  ".join(f"{s.value} {assessment.summary[s.value]}" for s in Status))
    for result in assessment.results:
        if result.status in (Status.FAIL, Status.ERROR):
            first = next((f.message for f in result.findings if f.status is result.status), result.note)
            lines.append(f"  {result.status.value:5} {result.control.id}: {first}")
    lines.append(f"wrote {report}")
    print("\n".join(lines))  # noqa: T201


def cmd_check(args: argparse.Namespace) -> int:
    from compliance.assessment import assess, write_report
    from compliance.controls import by_id, catalog
    from compliance.planned import facts_from_plan
    from compliance.waivers import load_waivers

    waivers = load_waivers(Path(args.waivers), set(by_id())) if args.waivers else []
    facts = facts_from_plan(_plan_document(args))
    assessment = assess(facts, catalog(), waivers, __version__)
    report = write_report(assessment, Path(args.out))
    _print_summary(assessment, report)
    return EXIT_FAILED if assessment.failed else EXIT_OK


def _context_for(args: argparse.Namespace) -> Any:
    """What the client configured (retention, attestations, endpoints), when --client/--config is given."""
    from compliance.facts import Context

    if args.client is None and args.config is None:
        return Context()
    from infra.config import INTERFACE_ENDPOINTS, parse_client_config
    from infra.stackfile import read_stack_config

    path, _ = stack_file(args)
    cfg = parse_client_config(read_stack_config(path), str(path))
    return Context(
        client=cfg.client,
        log_retention_days=cfg.retention_days,
        allow_short_log_retention=cfg.allow_short_log_retention,
        required_endpoints=(*INTERFACE_ENDPOINTS, *cfg.extra_endpoints),
        attestations={k: (v.isoformat() if v else None) for k, v in cfg.attestations.model_dump().items()},
    )


def cmd_audit(args: argparse.Namespace) -> int:
    import os

    import boto3
    import botocore.exceptions

    from compliance.assessment import assess, write_report
    from compliance.collectors import collect
    from compliance.controls import by_id, catalog
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
    with _progress("collecting facts") as advance:
        facts, scan = collect(
            session, regions, endpoint, context, workers=args.workers, progress=advance, max_attempts=args.max_attempts
        )
    assessment = assess(facts, catalog(), waivers, __version__)
    resources = sum(len(items) for items in facts.items.values())
    assessment.collection = {
        "api_calls": scan.calls,
        "facts": resources,
        "workers": args.workers,
        "seconds": round(time.perf_counter() - started, 3),
    }
    report = write_report(assessment, Path(args.out))
    _print_summary(assessment, report)
    log.info("%d API calls for %d facts", scan.calls, resources)
    return EXIT_FAILED if assessment.failed else EXIT_OK


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
    check.set_defaults(func=cmd_check)

    docs = sub.add_parser("config-docs", help="print the client config reference (Markdown), or update the README")
    docs.add_argument("--write", metavar="README", help="replace the generated section of this file")
    docs.set_defaults(func=cmd_config_docs)
    audit = sub.add_parser("audit", help="evaluate the HIPAA controls on a live (or emulated) AWS account")
    audit.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    audit.add_argument("--region", action="append", metavar="R", help="region to scan; repeat for several")
    audit.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (e.g. an emulator); or AWS_ENDPOINT_URL")
    audit.add_argument("--waivers", metavar="FILE", help="YAML file of waivers")
    audit.add_argument("--workers", type=int, default=8, help="concurrent API calls (default 8)")
    audit.add_argument(
        "--max-attempts", type=int, default=4, help="attempts per API call, retries included (default 4)"
    )
    audit.add_argument("--out", required=True, metavar="DIR", help="directory for report.json")
    which = audit.add_mutually_exclusive_group()
    which.add_argument("--client", help="compare against Pulumi.NAME.yaml (retention, attestations, endpoints)")
    which.add_argument("--config", metavar="PATH", help="compare against this stack file")
    audit.add_argument("--project-dir", metavar="DIR", help="project root holding Pulumi.yaml (default: search up)")
    audit.set_defaults(func=cmd_audit)

    controls = sub.add_parser("controls-docs", help="print the control catalog (Markdown), or write docs/controls.md")
    controls.add_argument("--write", metavar="FILE", help="write it to this file")
    controls.set_defaults(func=cmd_controls_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from compliance.errors import IncompleteError, InputError
    from infra.errors import ConfigError, PlanError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        code: int = args.func(args)
        return code
    except (UsageError, ConfigError, InputError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except (PlanError, IncompleteError) as exc:
        _error(str(exc))
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        _error("interrupted.")
        return EXIT_INCOMPLETE
