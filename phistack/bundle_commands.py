"""`phistack bundle build|upload|urls` and `phistack inventory`: what the playbooks install from and run on."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from phistack.errors import EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from infra.hosts.bundle.build import PYTHON_ROLES, ROLE_PACKAGES, Python, build
    from infra.hosts.bundle.wheels import default_wheelhouse
    from phistack.errors import UsageError

    roles = tuple(args.roles.split(","))
    unknown = sorted(set(roles) - set(ROLE_PACKAGES))
    if unknown:
        raise UsageError(f"--roles: {unknown[0]!r} has no bundle content; known: {', '.join(ROLE_PACKAGES)}.")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out}: is a file; give a new folder for the bundle.")
    if Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise UsageError(f"--out {args.out}: not empty; give a new folder for the bundle.")
    python = None
    if set(roles) & set(PYTHON_ROLES):
        if args.model is None:
            raise UsageError("--model: give the model weights (a GGUF file, or a Hugging Face folder for vLLM).")
        if not Path(args.model).exists():
            raise UsageError(f"--model: {args.model} does not exist.")
        if args.engine == "vllm":
            _check_weights(args, Path(args.model))
        wheelhouse = Path(args.wheelhouse) if args.wheelhouse else default_wheelhouse()
        python = Python(Path(args.source).resolve(), args.engine, Path(args.model), wheelhouse)
    version = args.version or dt.datetime.now(dt.UTC).strftime("%Y.%m.%d-%H%M%S")
    extra = tuple(Path(d) for d in args.deb or [])
    rds_ca = Path(args.rds_ca) if args.rds_ca else None
    built = build(Path(args.out), args.client, version, Path(args.image_cache), roles, python, extra, rds_ca)
    print(json.dumps({"bundle": str(built.root), "version": version, "files": built.files,  # noqa: T201
                      "manifest_sha256": built.manifest_sha256}))  # fmt: skip
    return EXIT_OK


def _check_weights(args: argparse.Namespace, model: Path) -> None:
    """Refuse vLLM weights that are not the client's configured model, before minutes of building."""
    from infra.catalog import MODELS
    from infra.config import parse_client_config
    from infra.errors import BundleError
    from infra.hosts.bundle.weights import check
    from infra.stackfile import read_stack_config
    from phistack.errors import UsageError
    from phistack.pipeline import stack_file

    path, _ = stack_file(args)
    if not path.is_file():
        raise UsageError(f"--engine vllm: {path} not found; the weights are checked against the client's model "
                         "(give --config PATH to the client's stack file).")  # fmt: skip
    cfg = parse_client_config(read_stack_config(path), str(path))
    try:
        check(model, MODELS[cfg.model.name], cfg.model.quantization)
    except BundleError as exc:
        raise UsageError(str(exc)) from None


def _s3(args: argparse.Namespace) -> Any:
    import boto3

    from infra.hosts.bundle.presign import s3_client

    return s3_client(boto3.Session(profile_name=args.profile), args.region, args.endpoint_url)


def cmd_upload(args: argparse.Namespace) -> int:
    from infra.hosts.bundle.upload import upload

    done = upload(_s3(args), Path(args.bundle), args.bucket, args.kms_key)
    print(json.dumps({"prefix": done.prefix, "sent": done.sent, "skipped": done.skipped,  # noqa: T201
                      "manifest_sha256": done.manifest_sha256}))  # fmt: skip
    return EXIT_OK


def cmd_urls(args: argparse.Namespace) -> int:
    from infra.hosts.bundle.presign import presigned

    print(json.dumps(presigned(_s3(args), args.bucket, args.prefix, args.manifest_sha256, args.ttl)))  # noqa: T201
    return EXIT_OK


def cmd_ca(args: argparse.Namespace) -> int:
    import botocore.exceptions

    from infra.errors import BundleError
    from infra.hosts import ca

    s3 = _s3(args)
    try:
        if args.action == "init":
            ca.store(s3, args.bucket, args.kms_key, args.client, ca.new_ca(args.client))
            print(json.dumps({"ca": f"s3://{args.bucket}/pki/{args.client}/ca.crt"}))  # noqa: T201
        else:
            authority = ca.load(s3, args.bucket, args.client)
            issued = ca.issue(authority, args.name, args.dns or [], args.ip or [], args.usage.split(","))
            print(issued.to_json())  # noqa: T201  (the Ansible controller reads it with no_log)
    except botocore.exceptions.ClientError as exc:
        raise BundleError(f"s3://{args.bucket}/pki/{args.client}: {exc.response['Error'].get('Code')}") from None
    return EXIT_OK


def _stack_outputs(client: str) -> Any:
    """`pulumi stack output --json` of the client's stack (the Pulumi CLI, logged in to the state backend)."""
    import shutil
    import subprocess

    from phistack.errors import UsageError

    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise UsageError("--client: the Pulumi CLI is not on PATH; install it, or pass --outputs FILE.")
    done = subprocess.run(
        [pulumi, "stack", "output", "--json", "--stack", client], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"--client {client}: `pulumi stack output` failed: {last}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise UsageError(f"--client {client}: `pulumi stack output --json` did not print JSON.") from None


def cmd_inventory(args: argparse.Namespace) -> int:
    from infra.hosts.inventory import render
    from phistack.errors import UsageError
    from phistack.pipeline import out_file

    if args.client:
        outputs = _stack_outputs(args.client)
    else:
        try:
            outputs = json.loads(Path(args.outputs).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"--outputs {args.outputs}: not readable JSON ({exc.__class__.__name__}).") from None
    text = render(outputs, args.endpoint_url)
    out = (
        out_file(Path(args.out), "--out")
        if args.out
        else Path(f"playbooks/inventory/{outputs.get('client')}.aws_ec2.yml")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(out)  # noqa: T201
    return EXIT_OK


def _aws(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True, help="the stack's artifact bucket (stack output buckets.artifacts)")
    parser.add_argument("--region", required=True)
    parser.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (an emulator; never needed for AWS)")


def add_parsers(sub: Any) -> None:
    from infra.hosts.bundle.wheels import ENGINES  # standard library only: cheap at start-up

    inventory = sub.add_parser("inventory", help="the Ansible inventory of a stack (aws_ec2 plugin, SSM connection)")
    source = inventory.add_mutually_exclusive_group(required=True)
    source.add_argument("--client", help="the client's stack: runs `pulumi stack output --json --stack CLIENT`")
    source.add_argument("--outputs", help="a saved `pulumi stack output --json` of the client's stack")
    inventory.add_argument("--out", help="file to write (default playbooks/inventory/<client>.aws_ec2.yml)")
    inventory.add_argument("--endpoint-url", help="EC2 endpoint (an emulator; never needed for AWS)")
    inventory.set_defaults(func=cmd_inventory)
    ca = sub.add_parser("ca", help="the client's private CA (TLS between gateway, engine and PostgreSQL)")
    ca_actions = ca.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = ca_actions.add_parser("init", help="make the client's CA and keep it in the artifact bucket (SSE-KMS)")
    init.add_argument("--client", required=True)
    init.add_argument("--kms-key", required=True, help="the stack's KMS key (ARN or alias/...)")
    _aws(init)
    init.set_defaults(func=cmd_ca)
    issue = ca_actions.add_parser("issue", help="a certificate and key for one service on one host (JSON on stdout)")
    issue.add_argument("--client", required=True)
    issue.add_argument("--name", required=True, help="common name, e.g. postgresql@ip-10-0-1-5")
    issue.add_argument("--dns", action="append", help="a DNS name the peer will check (repeat)")
    issue.add_argument("--ip", action="append", help="an IP address the peer will check (repeat)")
    issue.add_argument("--usage", default="server", help="server, client or server,client")
    _aws(issue)
    issue.set_defaults(func=cmd_ca)

    bundle = sub.add_parser("bundle", help="build and upload the offline install bundle")
    actions = bundle.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser(
        "build", help="Debian 13 packages and wheels resolved on the hosts' OS, the checked weights, manifest"
    )
    b.add_argument("--client", required=True)
    b.add_argument("--out", required=True, help="a new folder")
    b.add_argument("--version", help="bundle version (default: UTC timestamp)")
    b.add_argument(
        "--roles", default="base,vector_store,llm_server,rag_gateway", help="comma-separated roles to bundle for"
    )
    b.add_argument("--engine", default="llama_cpp", choices=ENGINES, help="the llm_server engine")
    b.add_argument("--model", help="model weights: a GGUF file (llama_cpp) or a Hugging Face folder (vllm)")
    b.add_argument("--source", default=".", help="the phistack checkout the gateway's wheel is built from")
    b.add_argument("--deb", action="append", help="an extra .deb to serve, e.g. amazon-cloudwatch-agent.deb (repeat)")
    b.add_argument(
        "--rds-ca",
        help="AWS's RDS CA bundle (global-bundle.pem), for a stack on Aurora: the gateways "
        "verify the database's certificate against it",
    )
    b.add_argument("--wheelhouse", help="where the portable llama.cpp wheel is kept (default ~/.cache/phistack)")
    b.add_argument("--image-cache", default="/var/cache/phistack-testhost", help="where the OS image is kept")
    b.add_argument("--config", help="the client's stack file (default: Pulumi.CLIENT.yaml in the project); vLLM "
                   "weights are checked against its model")  # fmt: skip
    b.add_argument("--project-dir", help="project root holding Pulumi.yaml (default: search up)")
    b.set_defaults(func=cmd_build)
    u = actions.add_parser("upload", help="put a built bundle in the artifact bucket (SSE-KMS)")
    u.add_argument("bundle", help="the folder `bundle build` made")
    u.add_argument("--kms-key", required=True, help="the stack's KMS key (ARN or alias/...)")
    _aws(u)
    u.set_defaults(func=cmd_upload)
    r = actions.add_parser("urls", help="presigned URLs of a bundle's files, for the artifacts role")
    r.add_argument("--prefix", required=True, help="bundles/<client>/<version>")
    r.add_argument("--manifest-sha256", required=True, help="the pinned manifest SHA-256 (from `bundle upload`)")
    r.add_argument("--ttl", type=int, default=900, help="URL lifetime in seconds")
    _aws(r)
    r.set_defaults(func=cmd_urls)
