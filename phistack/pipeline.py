"""What the commands share: where the project and the stack file are, the paths they may write, the client's
context, and the one assess → write pipeline every assessment goes through (check, audit, demo). The command
modules import from here; nothing here imports them (no cycle)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phistack.errors import EXIT_FAILED, EXIT_OK, EXIT_UNJUDGED, UsageError

log = logging.getLogger("phistack")


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


def print_summary(assessment: Any, report: Path) -> None:
    from compliance.model import Status
    from compliance.reports.summary import incomplete_line

    target = assessment.facts
    headline = incomplete_line(assessment.unjudged)
    lines = [f"{headline} (ERROR below); this audit is not clean"] if headline else []
    lines += [f"{target.source} assessment of {target.context.client or target.account} ({', '.join(target.regions)})"]
    lines.append("  " + "  ".join(f"{s.value} {assessment.summary[s.value]}" for s in Status))
    for result in assessment.results:
        if result.status in (Status.FAIL, Status.ERROR):
            first = next((f.message for f in result.findings if f.status is result.status), result.note)
            lines.append(f"  {result.status.value:5} {result.control.id}: {first}")
    lines.append(f"wrote {report}")
    print("\n".join(lines))  # noqa: T201


BUNDLE_FILES = (
    "report.json",
    "report.html",
    "report.pdf",
    "junit.xml",
    "manifest.json",
    "manifest.sig",
    "signing-key.pub.pem",
    "oscal-assessment-results.json",
)


def out_file(path: Path, option: str) -> Path:
    """A file the command may write: not a directory, in a directory that exists (a typo is not created)."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; name the file to write.")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: the directory {path.parent} does not exist.")
    return path


def prepare_out_dir(path: Path, create_parents: bool = False) -> Path:
    """An empty directory, or an earlier phistack bundle (cleared): never a mix of two runs. Its parent must
    exist, unless ``create_parents`` (a command's own default folder, such as demo's out/demo)."""
    import shutil

    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path}: is a file, not a directory.")
    if not path.exists() and not create_parents and not path.parent.is_dir():
        raise UsageError(f"--out {path}: the directory {path.parent} does not exist; create it first.")
    if path.is_dir() and any(path.iterdir()):
        if not (path / "report.json").exists() and not (path / "manifest.json").exists():
            raise UsageError(f"--out {path}: is not empty and holds no phistack bundle; choose an empty directory.")
        for name in BUNDLE_FILES:
            (path / name).unlink(missing_ok=True)
        shutil.rmtree(path / "evidence", ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def signer_for(args: argparse.Namespace, name: str) -> tuple[Any, str]:
    """The bundle's signer and a description of it: --sign-with kms:ALIAS, --signing-key PEM, or the default."""
    from compliance.reports.bundle import FileSigner, KmsSigner, default_key_path, load_or_create_key

    if args.sign_with:
        import boto3

        if not args.sign_with.startswith("kms:") or len(args.sign_with) <= 4:
            raise UsageError(f"--sign-with {args.sign_with!r}: expected kms:ALIAS (or kms:KEY_ID / kms:KEY_ARN).")
        key_id = args.sign_with[4:]
        is_key_id = re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}|mrk-[0-9a-f]{32}", key_id) is not None
        key_id = key_id if key_id.startswith(("alias/", "arn:")) or is_key_id else f"alias/{key_id}"
        endpoint = getattr(args, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
        session = boto3.Session(profile_name=getattr(args, "profile", None))
        kms = session.client("kms", endpoint_url=endpoint, region_name=session.region_name or "us-east-1")
        return KmsSigner(kms, key_id), f"KMS key {key_id}"
    key_path = Path(args.signing_key) if args.signing_key else default_key_path(name)
    return FileSigner(load_or_create_key(key_path)), str(key_path)


def write_bundle(args: argparse.Namespace, assessment: Any, printer: Any = None) -> Path:
    """The whole bundle, or nothing: the signer is ready (a KMS key checked) before the first file is written."""
    from compliance.assessment import write_report
    from compliance.reports.write import write_bundle

    signer, described = signer_for(args, assessment.facts.context.client or assessment.facts.account)
    own_default = args.out == getattr(args, "out_default", None)
    report = write_report(assessment, prepare_out_dir(Path(args.out), create_parents=own_default))
    print_summary(assessment, report)
    fingerprint, warnings = write_bundle(report, assessment.facts, signer, pdf=not args.no_pdf, printer=printer)
    for warning in warnings:
        log.warning("%s", warning)
    verify = f"phistack report verify {report.parent} --public-key <the key's .pub.pem>"
    print(f"signed with {described} ({fingerprint}); auditors verify with: {verify}")  # noqa: T201
    print(f"report: {report.parent / 'report.html'}")  # noqa: T201
    return report


def context_of(cfg: Any) -> Any:
    """What a client configured that the controls compare an account against."""
    from compliance.facts import Context

    return Context.of(cfg.context())


NO_HOST_EVIDENCE = "no host evidence given: run playbooks/verify.yml, then pass --host-evidence DIR"


def live_facts(
    session: Any, regions: list[str], endpoint: str | None, context: Any, host_evidence: Path | None, **collect: Any
) -> tuple[Any, Any]:
    """The one way an account becomes facts (audit, demo, demo --host, and later fleet runs): every collector
    against the account, then the hosts' evidence files, or the reason there are none. Returns (facts, scan)."""
    from compliance.facts import Gap
    from compliance.facts.hosts import HOSTS
    from compliance.sources.hosts import load
    from compliance.sources.live import collect as collect_account

    facts, scan = collect_account(session, regions, endpoint, context, **collect)
    if host_evidence is not None:
        facts.add(HOSTS, load(host_evidence))
    else:
        facts.missing(HOSTS, Gap(NO_HOST_EVIDENCE, "ERROR"))
    return facts, scan


def assess_live(facts: Any, waivers: list[Any], scan: Any = None, **run: Any) -> Any:
    """Facts judged by every control with the waivers; a live scan's numbers recorded (``scan``, and ``run`` such
    as workers and seconds)."""
    from compliance.assessment import assess
    from compliance.controls import catalog
    from phistack import __version__

    assessment = assess(facts, catalog(), waivers, __version__)
    if scan is not None:
        resources = sum(len(items) for items in facts.items.values())
        assessment.collection = {"api_calls": scan.calls, "facts": resources, **run}
        log.info("%d API calls for %d facts", scan.calls, resources)
    return assessment


def assess_and_write(
    args: argparse.Namespace, facts: Any, waivers: list[Any], scan: Any = None, printer: Any = None, **run: Any
) -> Any:
    """The one pipeline: facts (from a plan, or an account through ``live_facts``) judged (``assess_live``), the
    signed bundle written (``printer``: a Chromium started while the facts were collected, see ``warm_printer``).
    Returns the assessment; its exit code is ``exit_code(assessment)``."""
    assessment = assess_live(facts, waivers, scan, **run)
    write_bundle(args, assessment, printer)
    return assessment


def prepare_reports() -> None:
    """Load the report writers (Jinja2 and the templates' modules: about a fifth of a second) on a thread while
    the facts are collected, which mostly waits on the network, instead of after."""
    threading.Thread(target=importlib.import_module, args=("compliance.reports.write",), daemon=True).start()


@contextlib.contextmanager
def warm_printer(args: argparse.Namespace) -> Iterator[Any]:
    """A Chromium started now, to print report.pdf later without waiting for it to start; None when no PDF is
    wanted or no Chromium is installed (render_all then says so)."""
    from compliance.reports.pdf import WarmChromium, find_chromium

    chromium = None if args.no_pdf else find_chromium()
    if chromium is None:
        yield None
        return
    with WarmChromium(chromium) as printer:
        yield printer


def exit_code(assessment: Any) -> int:
    """4 while any control could not be judged (whatever else failed), else 1 if one FAILed, else 0."""
    if assessment.unjudged:
        return EXIT_UNJUDGED
    return EXIT_FAILED if assessment.failed else EXIT_OK


def load_report(path: Path) -> dict[str, Any]:
    """report.json of a bundle folder, or the file itself; an InputError naming the file when it is not one."""
    import json

    from compliance.errors import InputError

    file = path / "report.json" if path.is_dir() else path
    try:
        report: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{file}: does not exist.") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{file}: is not a readable report.json ({exc.__class__.__name__}).") from None
    if report.get("schema") != "phistack/assessment/v1":
        raise InputError(f"{file}: schema is {report.get('schema')!r}, expected 'phistack/assessment/v1'.")
    return report


def plan_document(args: argparse.Namespace) -> dict[str, Any]:
    """The plan to check: read from --plan, or made now from --client / --config."""
    if args.plan is not None:
        from compliance.sources.plan import load_plan

        return load_plan(Path(args.plan))
    from infra.config import parse_client_config
    from infra.plan import run_plan
    from infra.stackfile import read_stack_config

    path, stack = stack_file(args)
    raw = read_stack_config(path)
    return run_plan(parse_client_config(raw, str(path)), raw, stack).to_json(raw)
