"""`phistack-gateway`: serve, migrate, and verify the audit trail (for operators and auditors)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

EXIT_OK, EXIT_BROKEN, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3's are all such); TLS 1.0 and 1.1 have none of them.
AEAD_ONLY = "ECDHE+AESGCM:ECDHE+CHACHA20"
S = TypeVar("S")


def _error(message: str) -> None:
    print(f"phistack-gateway: error: {message}", file=sys.stderr)  # noqa: T201


def _settings(kind: Callable[[], S]) -> S | None:
    """The settings read from the environment, or None after one line naming the first bad variable."""
    from pydantic import ValidationError

    try:
        return kind()
    except ValidationError as exc:
        first = exc.errors()[0]
        prefix = str(getattr(kind, "model_config", {}).get("env_prefix", ""))
        _error(f"{prefix}{str(first['loc'][0]).upper()}: {first['msg']}.")
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from stack.app import create_app
    from stack.jwks import JwksUnavailable
    from stack.sealing import SealError
    from stack.settings import GatewaySettings
    from stack.wiring import build_gateway

    settings = _settings(GatewaySettings)
    if settings is None:
        return EXIT_USAGE
    try:
        app = create_app(build_gateway(settings))
    except SealError as exc:
        _error(f"PHISTACK_GATEWAY_AUDIT_KEY_FILE: {exc}")
        return EXIT_USAGE
    except JwksUnavailable as exc:
        _error(f"PHISTACK_GATEWAY_OIDC_JWKS_URL: {exc}")
        return EXIT_INCOMPLETE
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        ssl_ciphers=AEAD_ONLY,
        log_level="warning",
        access_log=False,
    )  # no access log: URLs and timings only live in metrics
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from stack.dbauth import owner_credentials
    from stack.migrate import migrate

    credentials = owner_credentials(args.owner_secret, args.region) if args.owner_secret else None
    applied = migrate(args.dsn, credentials=credentials)
    print("\n".join(f"applied {name}" for name in applied) or "up to date")  # noqa: T201
    return EXIT_OK


def _trail_connection(args: argparse.Namespace) -> Callable[[], Any]:
    """How the audit commands connect: the DSN as given, or on Aurora (--iam-auth) with an IAM token as the
    password, signed by the instance profile (one token for the command's connections)."""
    import psycopg

    if not args.iam_auth:
        return lambda: psycopg.connect(args.dsn)
    from stack.dbauth import IamTokens

    tokens = IamTokens(args.dsn, args.region)
    return lambda: psycopg.connect(args.dsn, **tokens.connect_kwargs())


def _on_trail(args: argparse.Namespace, work: Callable[[Any], Any], out: Path | None = None) -> tuple[Any, int | None]:
    """work(conn) on the audit trail; a failure is one line on stderr and an exit code instead of a result."""
    import psycopg

    from stack.errors import AuditChainBroken, DatabaseError

    try:
        with _trail_connection(args)() as conn:
            return work(conn), None
    except AuditChainBroken as exc:
        _error(str(exc))
        return None, EXIT_BROKEN
    except DatabaseError as exc:
        _error(str(exc))
        return None, EXIT_INCOMPLETE
    except psycopg.Error as exc:
        _error(f"cannot read the audit trail: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        return None, EXIT_INCOMPLETE
    except OSError as exc:
        _error(f"{out}: {exc.strerror}")
        return None, EXIT_USAGE


def cmd_audit_verify(args: argparse.Namespace) -> int:
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from stack.anchors import check_trail, store_for
    from stack.crosscheck import shipped_lines

    trusted = []
    for path in args.public_key or []:
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            _error(f"--public-key {path}: not a readable public key ({exc.__class__.__name__})")
            return EXIT_USAGE
        if not isinstance(key, Ed25519PublicKey):
            _error(f"--public-key {path}: not an Ed25519 key")
            return EXIT_USAGE
        trusted.append(key)
    check = check_trail(
        _trail_connection(args),
        store_for(args.anchors) if args.anchors is not None else None,
        trusted,
        (lambda: shipped_lines(args.shipped)) if args.shipped is not None else None,
    )
    code = {"intact": EXIT_OK, "broken": EXIT_BROKEN}.get(check.outcome, EXIT_INCOMPLETE)
    if args.json:
        print(json.dumps(check.document()))  # noqa: T201
    for problem in check.problems:
        _error(problem)
    if code != EXIT_OK or args.json:
        return code
    said = f"audit trail intact: {check.events} events, every hash and link verified"
    if check.anchors is not None and check.last_anchor is not None:
        last = check.last_anchor
        replaced = sum(int(r["replaced_anchors"]) for r in check.restores)
        held = f"{check.anchors - replaced} of {check.anchors}" if replaced else f"every one of {check.anchors}"
        said += f", and {held} anchors found unchanged (last: event {last['seq']} by {last['host']} at {last['at']})"

    for restore in check.restores:
        said += (
            f"; a restore acknowledged by {restore['host']} at {restore['at']} ({restore['reason']}) replaced "
            f"{restore['replaced_anchors']} earlier anchors"
        )
    if check.shipped is not None:
        copy = check.shipped
        said += f"; the shipped copy agrees: {copy['shipped']} of {copy['events']} events shipped with the same hash"
        said += f", {copy['not_yet']} newer not shipped yet" if copy["not_yet"] else ""
    print(said)  # noqa: T201
    return EXIT_OK


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    from stack.anchors import AnchorError, anchor, load_private_key, request_error, store_for

    if (wrong := request_error(args.host, args.restore)) is not None:
        _error(wrong)
        return EXIT_USAGE
    try:
        key = load_private_key(args.key_file)
        made, failed = _on_trail(
            args, lambda conn: anchor(conn, store_for(args.to), args.host, key, restore=args.restore)
        )
    except AnchorError as exc:
        _error(str(exc))
        return EXIT_INCOMPLETE
    if failed is not None:
        return failed
    if made.supersedes is not None:
        print(f"acknowledged a restore at event {made.seq} as {made.name}, superseding the anchors before it")  # noqa: T201
    else:
        print(f"anchored event {made.seq} as {made.name}")  # noqa: T201
    return EXIT_OK


def cmd_audit_anchor_key(args: argparse.Namespace) -> int:
    from stack.anchors import AnchorError, create_private_key, key_id, public_pem

    try:
        public = create_private_key(args.out)
    except AnchorError as exc:
        _error(str(exc))
        return EXIT_USAGE
    args.out.with_suffix(".pub.pem").write_bytes(public_pem(public))
    print(f"anchor key {key_id(public)} written to {args.out} (public key beside it)")  # noqa: T201
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    from stack.audit_export import export
    from stack.sealing import AesGcmSealer, SealError

    try:
        opener = AesGcmSealer.from_file(args.key_file) if args.key_file else None
    except SealError as exc:
        _error(f"--key-file: {exc}")
        return EXIT_USAGE
    result, failed = _on_trail(args, lambda conn: export(conn, args.out, opener), args.out)
    if failed is not None:
        return failed
    count, broken = result
    if broken is not None:
        _error(f"exported {count} events to {args.out}, but the chain is broken: {broken}")
        return EXIT_BROKEN
    print(f"exported {count} events to {args.out}; chain intact")  # noqa: T201
    return EXIT_OK


def cmd_keys(args: argparse.Namespace) -> int:
    import psycopg

    from stack.auth import create_api_key, revoke_api_key

    try:
        with psycopg.connect(args.dsn) as conn:
            if args.action == "create":
                if conn.execute("SELECT 1 FROM api_keys WHERE name = %s", (args.name,)).fetchone():
                    _error(f"--name: a key named {args.name!r} exists (names are never reused; revoked ones too).")
                    return EXIT_USAGE
                print(create_api_key(conn, args.name, args.group))  # noqa: T201  (shown once, stored hashed)
            elif not revoke_api_key(conn, args.name):
                _error(f"--name: no live key named {args.name!r}.")
                return EXIT_USAGE
    except psycopg.Error as exc:
        _error(f"cannot change the API keys: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        return EXIT_INCOMPLETE
    return EXIT_OK


def cmd_audit_ship(args: argparse.Namespace) -> int:
    from stack.audit_export import ship

    count, failed = _on_trail(args, lambda conn: ship(conn, args.out), args.out)
    if failed is not None:
        return failed
    print(f"shipped {count} events to {args.out}")  # noqa: T201
    return EXIT_OK


def _sync_parts(need_queue: bool) -> tuple[Any, Any] | int:
    from stack.settings import SyncSettings
    from stack.wiring import build_sync

    settings = _settings(SyncSettings)
    if settings is None:
        return EXIT_USAGE
    if need_queue and not (settings.queue_url and settings.dead_letter_queue_url):
        _error("PHISTACK_SYNC_QUEUE_URL and PHISTACK_SYNC_DEAD_LETTER_QUEUE_URL: both are needed to consume events.")
        return EXIT_USAGE
    return build_sync(settings)


def cmd_sync_run(args: argparse.Namespace) -> int:
    import signal

    parts = _sync_parts(need_queue=True)
    if isinstance(parts, int):
        return parts
    _, worker = parts
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda number, _frame: stopping.append(number))
    log = logging.getLogger("stack.sync")
    log.setLevel(logging.INFO)
    worker.run(stop=lambda: bool(stopping), on_tally=lambda t: log.info("synced: %s", t) if t.counts else None)
    return EXIT_OK


def cmd_sync_reconcile(args: argparse.Namespace) -> int:
    parts = _sync_parts(need_queue=False)
    if isinstance(parts, int):
        return parts
    syncer, _ = parts

    def show(result: Any) -> None:
        if result.action != "unchanged":
            detail = f": {result.error}" if result.error else ""
            print(f"{result.action:9} {result.key}{detail}")  # noqa: T201

    tally = syncer.reconcile(show)
    print(f"reconciled s3://{syncer.bucket}: {tally}")  # noqa: T201
    return EXIT_INCOMPLETE if tally.counts.get("failed") else EXIT_OK


def cmd_dev(args: argparse.Namespace) -> int:
    from stack.dev.stack import run

    return run(args.dir, args.port, args.llm_url)


def _trail_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--dsn", required=True, help="DSN of a role that may read audit_events (phistack_auditor)")
    command.add_argument(
        "--iam-auth", action="store_true", help="log in with an RDS IAM token (Aurora), signed by the instance profile"
    )
    command.add_argument("--region", help="the database's region, for --iam-auth (default: the instance's)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phistack-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the gateway (settings from PHISTACK_GATEWAY_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--tls-cert", help="PEM certificate (production: always)")
    serve.add_argument("--tls-key", help="PEM private key")
    serve.set_defaults(func=cmd_serve)
    dev = sub.add_parser("dev", help="everything on this machine: embedded database, tiny model, dev IdP key")
    dev.add_argument("--dir", type=Path, default=Path(".phistack/gateway-dev"), help="state folder (kept)")
    dev.add_argument("--port", type=int, default=8443)
    dev.add_argument("--llm-url", help="use this OpenAI-compatible engine instead of starting llama.cpp")
    dev.set_defaults(func=cmd_dev)
    migrate = sub.add_parser("migrate", help="apply the schema migrations (as the database owner)")
    migrate.add_argument("--dsn", required=True, help="the database (TLS settings included), without a password")
    migrate.add_argument(
        "--owner-secret",
        help="Secrets Manager id of the owner's credentials (Aurora's managed master secret); default: the DSN's",
    )
    migrate.add_argument("--region", help="the secret's region (default: the instance's)")
    migrate.set_defaults(func=cmd_migrate)
    keys = sub.add_parser("keys", help="service API keys (as the database owner)")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="a new key for a service, printed once (only its hash is kept)")
    create.add_argument("--dsn", required=True)
    create.add_argument("--name", required=True, help="the service, e.g. ingest-bot")
    create.add_argument("--group", action="append", required=True, help="a group the key acts for (repeat)")
    create.set_defaults(func=cmd_keys)
    revoke = keys_sub.add_parser("revoke", help="revoke a service's key")
    revoke.add_argument("--dsn", required=True)
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(func=cmd_keys)
    sync = sub.add_parser("sync", help="keep the knowledge base in step with the document bucket (PHISTACK_SYNC_*)")
    sync_sub = sync.add_subparsers(dest="action", required=True, metavar="ACTION")
    sync_sub.add_parser("run", help="consume the bucket's event queue until stopped (SIGTERM)").set_defaults(
        func=cmd_sync_run
    )
    sync_sub.add_parser(
        "reconcile", help="list the bucket and repair any drift both ways (after a restore, or any time)"
    ).set_defaults(func=cmd_sync_reconcile)
    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", help="check every hash and link (exit 1 naming the first break)")
    _trail_arguments(verify)
    verify.add_argument(
        "--anchors", metavar="WHERE", help="also check every anchored head: s3://BUCKET/PREFIX or a folder"
    )
    verify.add_argument(
        "--public-key", type=Path, action="append", help="trust only this anchor key (PEM; repeatable); by "
        "default the keys stored beside the anchors, which Object Lock keeps as first written",
    )  # fmt: skip
    verify.add_argument(
        "--shipped", metavar="WHERE", help="also compare with the copy shipped to CloudWatch: cloudwatch:LOG_GROUP, "
        "or a JSON Lines file (an export of it, or the shipped file)",
    )  # fmt: skip
    verify.add_argument(
        "--json", action="store_true", help="print the result as one JSON document (the hosts' evidence)"
    )
    verify.set_defaults(func=cmd_audit_verify)
    anchor = audit_sub.add_parser("anchor", help="sign the chain's head and store it, write-once (a timer runs it)")
    _trail_arguments(anchor)
    anchor.add_argument(
        "--to", required=True, metavar="WHERE", help="s3://BUCKET/PREFIX (the audit archive) or a folder"
    )
    anchor.add_argument("--host", required=True, help="this gateway host's name (anchors are numbered per host)")
    anchor.add_argument("--key-file", required=True, type=Path, help="the host's anchor key (Ed25519, PEM)")
    anchor.add_argument(
        "--restore", metavar="REASON", help="acknowledge that the database was restored (why, kept in the signed "
        "record): the anchors so far that the restored trail no longer holds are reported as replaced by it",
    )  # fmt: skip
    anchor.set_defaults(func=cmd_audit_anchor)
    anchor_key = audit_sub.add_parser("anchor-key", help="create a host's anchor key (never replaced in place)")
    anchor_key.add_argument("--out", required=True, type=Path, help="where to write it (mode 600)")
    anchor_key.set_defaults(func=cmd_audit_anchor_key)
    export = audit_sub.add_parser("export", help="write the trail as JSON Lines for auditors, chain checked")
    _trail_arguments(export)
    export.add_argument("--out", required=True, type=Path, help="file to write (JSON Lines)")
    export.add_argument("--key-file", type=Path, help="the audit key: also decrypt sealed questions and answers")
    export.set_defaults(func=cmd_audit_export)
    ship = audit_sub.add_parser("ship", help="append new events to a JSON Lines file the log agent ships")
    _trail_arguments(ship)
    ship.add_argument("--out", required=True, type=Path, help="the file the CloudWatch agent follows")
    ship.set_defaults(func=cmd_audit_ship)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from stack.errors import GatewayError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        code: int = args.func(args)
    except GatewayError as exc:
        _error(str(exc))
        return EXIT_INCOMPLETE
    return code
