"""`phistack fleet audit`: every client of a fleet file audited in one run, through a role assumed in its account.

One run is one folder, ``OUT/<UTC time>/``: each client's signed bundle under its name (exactly what
``phistack audit`` writes), and ``fleet.json`` + ``fleet.html`` with every client's counts, worst failing
severity, the controls whose status changed since that client's previous bundle, and the clients that could not
be reached. The whole run folder is signed too, so ``phistack report verify OUT/<time>`` checks all of it.

Drift is read only from a previous bundle that verifies, signed by the key that signs this client now: a bundle
changed after signing, or signed by another key, is reported and never compared against.

Concurrency: at most ``clients_at_once`` accounts are audited at the same time; the clients of one account run
one after another, each with at most ``workers`` API calls in flight, so no account ever sees more than
``workers`` concurrent calls from one run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.credentials
import botocore.exceptions
import botocore.session

from phistack.errors import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, EXIT_UNJUDGED, UsageError
from phistack.fleet_file import Client

log = logging.getLogger("phistack.fleet")

SCHEMA = "phistack/fleet/v1"
SESSION_NAME = "phistack-fleet-audit"
SEVERITY_ORDER = ("critical", "high", "medium", "low")
RUN_FORMAT = "%Y-%m-%dT%H-%M-%SZ"


@dataclass
class Prepared:
    """A client with everything read from disk before any account is touched."""

    client: Client
    context: Any
    waivers: list[Any]
    signer: Any


@dataclass
class Outcome:
    client: Client
    outcome: str  # clean (no FAIL, no ERROR) · failed · incomplete (no FAIL, some ERROR) · unreachable
    reason: str = ""
    unjudged: int = 0  # controls that could not be judged (ERROR): never clean while any remain
    summary: dict[str, int] = field(default_factory=dict)
    worst_severity: str | None = None
    failing: list[str] = field(default_factory=list)
    previous: dict[str, Any] | None = None
    changes: list[dict[str, str | None]] = field(default_factory=list)
    seconds: float = 0.0
    api_calls: int = 0

    def to_json(self) -> dict[str, Any]:
        c = self.client
        return {
            "name": c.name,
            "account": c.account,
            "regions": list(c.regions),
            "outcome": self.outcome,
            "reason": self.reason,
            "unjudged": self.unjudged,
            "bundle": None if self.outcome == "unreachable" else c.name,
            "summary": self.summary,
            "worst_severity": self.worst_severity,
            "failing_controls": self.failing,
            "previous": self.previous,
            "changes": self.changes,
            "seconds": self.seconds,
            "api_calls": self.api_calls,
        }


def prepare(clients: list[Client], signer_for_client: Any) -> list[Prepared]:
    """Each client's stack file, waivers and signer, checked now: a mistake stops the run before any account."""
    from compliance.controls import by_id
    from compliance.facts import Context
    from compliance.waivers import load_waivers
    from infra.config import parse_client_config
    from infra.stackfile import read_stack_config
    from phistack.pipeline import context_of

    known = set(by_id())
    prepared = []
    for client in clients:
        context = Context()
        if client.stack is not None:
            cfg = parse_client_config(read_stack_config(client.stack), str(client.stack))
            if cfg.account_id != client.account:
                raise UsageError(
                    f"client {client.name}: {client.stack} is for account {cfg.account_id}, not {client.account}."
                )
            context = context_of(cfg)
        waivers = load_waivers(client.waivers, known) if client.waivers is not None else []
        prepared.append(Prepared(client, context, waivers, signer_for_client(client)))
    return prepared


def run_folder(out: Path, now: dt.datetime) -> Path:
    """A new folder for this run under OUT, named by its UTC start (a second run in the same second gets -2)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a directory.")
    if not out.exists() and not out.parent.is_dir():
        raise UsageError(f"--out {out}: the directory {out.parent} does not exist; create it first.")
    out.mkdir(exist_ok=True)
    stamp = now.strftime(RUN_FORMAT)
    for n in range(1, 100):
        folder = out / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise UsageError(f"--out {out}: 99 runs started in the same second.")


def previous_bundle(client: str, run: Path, previous_run: Path | None) -> Path | None:
    """The client's newest bundle before this run: in --previous, or in the earlier runs beside this one."""
    if previous_run is not None:
        candidates = [previous_run]
    else:
        earlier = [p for p in run.parent.iterdir() if p.is_dir() and p.name < run.name and _is_run_name(p.name)]
        candidates = sorted(earlier, reverse=True)
    for folder in candidates:
        if (folder / client / "manifest.json").exists() or (folder / client / "report.json").exists():
            return folder / client
    return None


def _is_run_name(name: str) -> bool:
    try:
        dt.datetime.strptime(name[:20], RUN_FORMAT)
    except ValueError:
        return False
    return True


def judge_previous(bundle: Path, signer: Any, account: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(what the summary says about the previous bundle, its report when it can be trusted)."""
    from compliance.errors import InputError
    from compliance.reports.bundle import fingerprint, verify_bundle

    described: dict[str, Any] = {"bundle": str(bundle), "trusted": False, "problems": []}
    try:
        result = verify_bundle(bundle)
    except InputError as exc:
        described["problems"] = [str(exc)]
        return described, None
    problems = list(result.problems)
    expected = fingerprint(signer.public_key())
    if result.key_fingerprint and result.key_fingerprint != expected:
        problems.append(f"signed by {result.key_fingerprint}, not by this client's key {expected}.")
    report: dict[str, Any] | None = None
    if not problems:
        try:
            report = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"report.json: unreadable ({exc.__class__.__name__}).")
    if report is not None and report.get("target", {}).get("account") != account:
        problems.append(f"is an assessment of account {report.get('target', {}).get('account')}, not {account}.")
        report = None
    described["problems"] = problems
    described["trusted"] = not problems
    if report is not None and not problems:
        described["generated_at"] = report.get("generated_at")
        return described, report
    return described, None


class Fleet:
    """One run: the base session (the auditor's own credentials), the endpoint, and the bounds."""

    def __init__(self, base: boto3.Session, endpoint: str | None, workers: int, max_attempts: int, pdf: bool) -> None:
        self.base, self.endpoint = base, endpoint
        self.workers, self.max_attempts, self.pdf = workers, max_attempts, pdf
        # Making sessions and clients is not thread-safe; re-entrant, as refreshing credentials makes an STS client.
        self._lock = threading.RLock()

    def _create_client(self, region: str, service: str, **kwargs: Any) -> Any:
        with self._lock:
            return self.base._session.create_client(service, region_name=region, endpoint_url=self.endpoint, **kwargs)

    def session_for(self, client: Client) -> boto3.Session:
        """A session in the client's account through its role and external id, refreshed before it expires.
        Raises botocore's error when the role cannot be assumed."""
        home = client.regions[0]
        with self._lock:
            source = self.base.get_credentials()
        if source is None:
            raise botocore.exceptions.NoCredentialsError()
        fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
            functools.partial(self._create_client, home),
            source,
            client.role_arn,
            extra_args={"RoleSessionName": SESSION_NAME, "ExternalId": client.external_id},
        )
        first = fetcher.fetch_credentials()  # now: a refused role is this client's error, before any scan
        credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
            first, fetcher.fetch_credentials, "assume-role"
        )
        with self._lock:
            core = botocore.session.Session()
            core._credentials = credentials  # type: ignore[attr-defined]  # botocore's way to refreshable ones
            # One loader for every client: the service models are parsed once per run, not once per client
            # (about 0.6 s of CPU each). It only caches what it read from botocore's own files.
            core.register_component("data_loader", self.base._session.get_component("data_loader"))
            return boto3.Session(botocore_session=core, region_name=home)

    def audit(self, prepared: Prepared, run: Path, previous_run: Path | None) -> Outcome:
        from compliance.assessment import write_report
        from compliance.errors import ComplianceError
        from compliance.model import Status
        from compliance.reports.diff import control_changes
        from compliance.reports.summary import incomplete_line
        from compliance.reports.write import write_bundle
        from phistack.pipeline import assess_live, live_facts

        client = prepared.client
        started = time.perf_counter()
        try:
            session = self.session_for(client)
            facts, scan = live_facts(
                session, list(client.regions), self.endpoint, prepared.context, client.host_evidence,
                workers=self.workers, max_attempts=self.max_attempts, client_lock=self._lock,
            )  # fmt: skip
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"the role {client.role_arn} cannot be assumed: sts:AssumeRole answered {error.get('Code')}"
            return Outcome(client, "unreachable", reason, seconds=round(time.perf_counter() - started, 3))
        except (botocore.exceptions.BotoCoreError, ComplianceError) as exc:
            return Outcome(client, "unreachable", str(exc), seconds=round(time.perf_counter() - started, 3))
        if facts.account != client.account:
            reason = f"the role {client.role_arn} led to account {facts.account}, not {client.account}"
            return Outcome(client, "unreachable", reason, seconds=round(time.perf_counter() - started, 3))
        seconds = round(time.perf_counter() - started, 3)
        assessment = assess_live(facts, prepared.waivers, scan, workers=self.workers, seconds=seconds)
        report_path = write_report(assessment, run / client.name)
        _, warnings = write_bundle(report_path, facts, prepared.signer, pdf=self.pdf)
        for warning in warnings:
            log.warning("%s: %s", client.name, warning)
        failing = [r for r in assessment.results if r.status is Status.FAIL]
        severities = {r.control.severity for r in failing}
        outcome = Outcome(
            client,
            "failed" if failing else "incomplete" if assessment.unjudged else "clean",
            reason=incomplete_line(assessment.unjudged) or "",
            unjudged=assessment.unjudged,
            summary=assessment.summary,
            worst_severity=next((s for s in SEVERITY_ORDER if s in severities), None),
            failing=[r.control.id for r in failing],
            seconds=round(time.perf_counter() - started, 3),
            api_calls=scan.calls,
        )
        before = previous_bundle(client.name, run, previous_run)
        if before is not None:
            outcome.previous, old = judge_previous(before, prepared.signer, client.account)
            if old is not None:
                new = json.loads(report_path.read_text(encoding="utf-8"))
                outcome.changes = [{"control": cid, "before": b, "after": a} for cid, b, a in control_changes(old, new)]
        return outcome

    def run(
        self, prepared: list[Prepared], run: Path, clients_at_once: int, previous_run: Path | None
    ) -> list[Outcome]:
        """Every client; the clients of one account in sequence, at most ``clients_at_once`` accounts at a time."""
        by_account: dict[str, list[Prepared]] = defaultdict(list)
        for p in prepared:
            by_account[p.client.account].append(p)

        def one_account(group: list[Prepared]) -> list[Outcome]:
            return [self.audit(p, run, previous_run) for p in group]

        with ThreadPoolExecutor(max_workers=clients_at_once) as pool:
            done = list(pool.map(one_account, by_account.values()))
        outcomes = {o.client.name: o for group in done for o in group}
        return [outcomes[p.client.name] for p in prepared]


def fleet_exit_code(outcomes: list[Outcome]) -> int:
    """3 when a client could not be audited; 4 when a client's audit could not judge every control; 1 when one
    failed a control or its previous bundle is not to be trusted; 0 otherwise (every client clean)."""
    if any(o.outcome == "unreachable" for o in outcomes):
        return EXIT_INCOMPLETE
    if any(o.unjudged for o in outcomes):
        return EXIT_UNJUDGED
    untrusted = any(o.previous is not None and not o.previous["trusted"] for o in outcomes)
    return EXIT_FAILED if untrusted or any(o.outcome == "failed" for o in outcomes) else EXIT_OK


def summary_document(outcomes: list[Outcome], fleet_file: Path, settings: dict[str, Any], seconds: float,
                     generated_at: dt.datetime) -> dict[str, Any]:  # fmt: skip
    from phistack import __version__

    def count(kind: str) -> int:
        return sum(1 for o in outcomes if o.outcome == kind)

    return {
        "schema": SCHEMA,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "tool": {"name": "phistack", "version": __version__},
        "fleet_file": fleet_file.name,
        "settings": settings,
        "seconds": seconds,
        "totals": {
            "clients": len(outcomes),
            "clean": count("clean"),
            "failed": count("failed"),
            "incomplete": sum(1 for o in outcomes if o.unjudged),  # failed ones included: a client can be both
            "unreachable": count("unreachable"),
            "previous_not_trusted": sum(1 for o in outcomes if o.previous is not None and not o.previous["trusted"]),
            "changed": sum(1 for o in outcomes if o.changes),
        },
        "clients": [o.to_json() for o in outcomes],
    }
