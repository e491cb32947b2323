"""`phistack sandbox up|status|down` and `phistack demo`: the whole job on emulated AWS, no account needed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

EXAMPLE_CLIENT = "example"


def _project(args: argparse.Namespace) -> Path:
    from phistack.pipeline import find_project_dir

    return Path(args.project_dir) if args.project_dir else find_project_dir(Path.cwd())


def _client(args: argparse.Namespace) -> tuple[Any, dict[str, str]]:
    from infra.config import parse_client_config
    from infra.stackfile import read_stack_config
    from phistack.pipeline import stack_file

    path, _ = stack_file(args)
    raw = read_stack_config(path)
    return parse_client_config(raw, str(path)), raw


def _say(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: T201 - progress and summaries go to stderr; outputs to stdout


def cmd_sandbox_up(args: argparse.Namespace) -> int:
    from infra.sandbox.apply import apply_to_emulator
    from infra.sandbox.engine import ApplyFailed, SandboxError
    from infra.sandbox.state import clients, remember_external, running_server, save_client, start_server, state_dir
    from phistack.errors import EXIT_OK, UsageError

    cfg, raw = _client(args)
    folder = state_dir(_project(args))
    if args.endpoint_url:
        server = remember_external(folder, args.endpoint_url, cfg.account_id)
    else:
        server = running_server(folder) or start_server(folder, cfg.account_id)
    if server.account_id != cfg.account_id:
        raise UsageError(
            f"The running sandbox emulates account {server.account_id}, but {cfg.client} is "
            f"{cfg.account_id}; run `phistack sandbox down` first."
        )
    if cfg.client in clients(folder):
        what = "left part-way by a failed up" if clients(folder)[cfg.client].get("failed") else "already up"
        raise UsageError(f"{cfg.client} is {what} in the sandbox ({server.url}); `phistack sandbox down` first.")
    started = time.perf_counter()
    try:
        plan, sandbox = apply_to_emulator(cfg, raw, server.url)
    except ApplyFailed as failed:
        raise SandboxError(_after_failure(folder, server, cfg.client, failed)) from None
    save_client(
        folder,
        cfg.client,
        {"endpoint": server.url, "outputs": plan.outputs, "created": sandbox.created, "gaps": sandbox.gaps},
    )
    _say(
        f"created {len(sandbox.created)} resources of {cfg.client} in {server.url} "
        f"({time.perf_counter() - started:.1f} s); audit it with: phistack audit --endpoint-url {server.url} "
        f"--client {args.client or cfg.client} --out DIR"
    )
    for gap in sandbox.gaps:
        _say(f"  not created: {gap['type']} {gap['name']}: {gap['detail']}")
    print(json.dumps(plan.outputs, indent=2, sort_keys=True))  # noqa: T201 - like `pulumi stack output --json`
    return EXIT_OK


def _after_failure(folder: Path, server: Any, client: str, failed: Any) -> str:
    """Nothing half-created is left behind unnoticed: an emulator this command started, holding no other client, is
    reset (what the failed apply created is gone); otherwise the partial apply is recorded, `status` lists it and
    `down` removes it. Returns the one-line error."""
    from infra.sandbox.state import clients, reset_emulator, save_client

    created = failed.sandbox.created
    if server.pid is not None and not clients(folder):
        reset_emulator(server.url)
        return f"{failed} (sandbox up stopped; the {len(created)} resources it had created were removed)"
    save_client(
        folder,
        client,
        {"endpoint": server.url, "outputs": {}, "created": created, "gaps": failed.sandbox.gaps, "failed": str(failed)},
    )
    return f"{failed} ({len(created)} resources were created before it; `phistack sandbox down` removes them)"


def cmd_sandbox_status(args: argparse.Namespace) -> int:
    from infra.sandbox.state import clients, running_server, state_dir
    from phistack.errors import EXIT_OK

    folder = state_dir(_project(args))
    server = running_server(folder)
    if server is None:
        print("no sandbox is running")  # noqa: T201
        return EXIT_OK
    owner = f"pid {server.pid}" if server.pid else "external"
    lines = [f"sandbox: {server.url} ({owner}), account {server.account_id}"]
    for client, record in clients(folder).items():
        if record.get("failed"):
            lines.append(f"  {client}: FAILED part-way, {len(record['created'])} resources left: {record['failed']}")
        else:
            lines.append(f"  {client}: {len(record['created'])} resources, {len(record['gaps'])} not creatable here")
        for kind, n in sorted(Counter(c["type"] for c in record["created"]).items()):
            lines.append(f"    {n:4d} {kind}")
    print("\n".join(lines))  # noqa: T201
    return EXIT_OK


def cmd_sandbox_down(args: argparse.Namespace) -> int:
    from infra.sandbox.state import state_dir, stop_server
    from phistack.errors import EXIT_OK

    print(stop_server(state_dir(_project(args))))  # noqa: T201
    return EXIT_OK


def _demo_waivers(host: bool) -> list[Any]:
    """The emulated account's waivers, and with --host the local stand-in host's (phistack/data/*.yaml)."""
    from compliance.controls import by_id
    from compliance.waivers import load_waivers

    names = ["emulator-waivers.yaml", *(["testhost-waivers.yaml"] if host else [])]
    waivers = []
    for name in names:
        with resources.as_file(resources.files("phistack").joinpath(f"data/{name}")) as path:
            waivers += load_waivers(Path(path), set(by_id()))
    return waivers


def _emulated_facts(cfg: Any, raw: dict[str, str], context: Any) -> tuple[Any, Any]:
    import boto3

    from infra.sandbox.apply import apply_to_emulator
    from infra.sandbox.server import moto_server
    from phistack.pipeline import live_facts

    with moto_server(account_id=cfg.account_id) as url:
        _say(f"1/3 embedded AWS emulator on {url}; applying {cfg.client} (the real Pulumi program)...")
        _, sandbox = apply_to_emulator(cfg, raw, url)
        _say(
            f"    created {len(sandbox.created)} resources; not creatable in the emulator: "
            + ("; ".join(f"{g['type'].split(':')[-1]} {g['name']}" for g in sandbox.gaps) or "none")
        )
        _say("2/3 auditing the emulated account live (boto3, every control)...")
        session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name=cfg.region)
        return live_facts(session, [cfg.region], url, context, None, max_attempts=1)


def _print_answer(answer: Any) -> None:
    """The question, the gateway's answer (its text ends with the sources' list), and each structured citation."""
    lines = [f"Q: {answer.question}", f"A: {answer.content.strip()}", "citations:"]
    for citation in answer.citations:
        marked = "marked [n] in the answer" if citation.get("cited") else "not marked in the answer"
        lines.append(
            f"   [{citation.get('index')}] {citation.get('document')} (chunk {citation.get('chunk')}, "
            f"score {float(citation.get('score') or 0):.2f}, {marked})"
        )
    if answer.synced:
        lines.append(
            f"synced: {answer.synced['source']} was retrievable {answer.synced['seconds']:.1f} s after its put"
        )
    print("\n".join(lines))  # noqa: T201 - the demo's answer is its output


def cmd_demo(args: argparse.Namespace) -> int:
    """Emulated AWS up, the example client applied, audited live, the signed bundle written, all stopped. With
    --host, also installed onto a local Debian 13 host and asked a question (phistack/testhost/demo.py)."""
    from phistack.errors import EXIT_FAILED, EXIT_OK
    from phistack.pipeline import assess_and_write, context_of

    if args.host:
        from phistack.testhost.demo import check_prerequisites

        check_prerequisites()  # before anything is created
    cfg, raw = _client(args)
    waivers = _demo_waivers(args.host)
    started = time.perf_counter()
    if args.host:
        from phistack.testhost.demo import run

        facts, scan, answer = run(cfg, raw, context_of(cfg), _project(args), _say)
        _print_answer(answer)
    else:
        facts, scan = _emulated_facts(cfg, raw, context_of(cfg))
    _say("    writing the signed report bundle..." if args.host else "3/3 writing the signed report bundle...")
    seconds = round(time.perf_counter() - started, 3)
    assessment = assess_and_write(args, facts, waivers, scan, workers=8, seconds=seconds)
    if args.host:
        _say(_host_summary(assessment))
    _say(f"demo finished in {time.perf_counter() - started:.1f} s; the emulator is stopped.")
    # A demonstration, not an audit: it exits 0 once it ran through, and 1 if the stack it applied FAILs a control
    # (a regression in the program). What the emulator cannot answer stays ERROR, and the summary's first line and
    # the report's first page say the assessment is incomplete; `audit` exits 4 for it.
    return EXIT_FAILED if assessment.failed else EXIT_OK


def _host_summary(assessment: Any) -> str:
    """One line per host control: its status and its findings' (the report has the reasons)."""
    lines = ["    host controls, judged from the local host's evidence:"]
    for result in assessment.results:
        if result.control.id.startswith("host-"):
            counts = Counter(f.status.value for f in result.findings)
            detail = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            lines.append(f"      {result.status.value:<8} {result.control.id} ({detail or result.note})")
    return "\n".join(lines)


def add_parsers(sub: Any, target_options: Any, bundle_options: Any) -> None:
    sandbox = sub.add_parser("sandbox", help="the real program applied to emulated AWS (moto), no account needed")
    actions = sandbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="create the client's stack in the emulated account; print its outputs")
    target_options(up)
    up.add_argument("--endpoint-url", metavar="URL", help="use this emulator instead of starting one")
    up.set_defaults(func=cmd_sandbox_up)
    for name, func, text in (
        ("status", cmd_sandbox_status, "what the sandbox holds"),
        ("down", cmd_sandbox_down, "stop the embedded emulator (or reset an external one)"),
    ):
        parser = actions.add_parser(name, help=text)
        parser.add_argument("--project-dir", metavar="DIR", help="project root holding Pulumi.yaml")
        parser.set_defaults(func=func)
    demo = sub.add_parser("demo", help="emulated AWS, the example client applied and audited, signed report")
    target_options(demo)
    demo.add_argument("--out", default="out/demo", metavar="DIR", help="report bundle (default: out/demo)")
    demo.add_argument(
        "--host",
        action="store_true",
        help="also install the stack onto a local Debian 13 host (root, systemd-nspawn; minutes) and ask it a question",
    )
    bundle_options(demo)
    demo.set_defaults(func=cmd_demo, out_default="out/demo")
