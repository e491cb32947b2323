"""`phistack bundle build|upload|urls` and `phistack inventory`: what the playbooks install from and run on."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any


def cmd_build(args: argparse.Namespace) -> int:
    from infra.bundle.build import ROLE_PACKAGES, build
    from phistack.cli import UsageError

    unknown = sorted(set(args.roles.split(",")) - set(ROLE_PACKAGES))
    if unknown:
        raise UsageError(f"--roles: {unknown[0]!r} has no bundle content; known: {', '.join(ROLE_PACKAGES)}.")
    if Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise UsageError(f"--out {args.out}: not empty; give a new folder for the bundle.")
    version = args.version or dt.datetime.now(dt.UTC).strftime("%Y.%m.%d-%H%M%S")
    built = build(Path(args.out), args.client, version, Path(args.image_cache), tuple(args.roles.split(",")))
    print(json.dumps({"bundle": str(built.root), "version": version, "files": built.files,  # noqa: T201
                      "manifest_sha256": built.manifest_sha256}))  # fmt: skip
    return 0


def _s3(args: argparse.Namespace) -> Any:
    import boto3

    from infra.bundle.presign import s3_client

    return s3_client(boto3.Session(profile_name=args.profile), args.region, args.endpoint_url)


def cmd_upload(args: argparse.Namespace) -> int:
    from infra.bundle.upload import upload

    done = upload(_s3(args), Path(args.bundle), args.bucket, args.kms_key)
    print(json.dumps({"prefix": done.prefix, "sent": done.sent, "skipped": done.skipped,  # noqa: T201
                      "manifest_sha256": done.manifest_sha256}))  # fmt: skip
    return 0


def cmd_urls(args: argparse.Namespace) -> int:
    from infra.bundle.presign import presigned

    print(json.dumps(presigned(_s3(args), args.bucket, args.prefix, args.manifest_sha256, args.ttl)))  # noqa: T201
    return 0


def cmd_inventory(args: argparse.Namespace) -> int:
    from infra.inventory import render
    from phistack.cli import UsageError

    try:
        outputs = json.loads(Path(args.outputs).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--outputs {args.outputs}: not readable JSON ({exc.__class__.__name__}).") from None
    text = render(outputs, args.endpoint_url)
    out = Path(args.out or f"playbooks/inventory/{outputs.get('client', 'stack')}.aws_ec2.yml")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(out)  # noqa: T201
    return 0


def _aws(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True, help="the stack's artifact bucket (stack output artifactBucket)")
    parser.add_argument("--region", required=True)
    parser.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (an emulator; never needed for AWS)")


def add_parsers(sub: Any) -> None:
    inventory = sub.add_parser("inventory", help="the Ansible inventory of a stack (aws_ec2 plugin, SSM connection)")
    inventory.add_argument("--outputs", required=True, help="`pulumi stack output --json` of the client's stack")
    inventory.add_argument("--out", help="file to write (default playbooks/inventory/<client>.aws_ec2.yml)")
    inventory.add_argument("--endpoint-url", help="EC2 endpoint (an emulator; never needed for AWS)")
    inventory.set_defaults(func=cmd_inventory)
    bundle = sub.add_parser("bundle", help="build and upload the offline install bundle")
    actions = bundle.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="Debian packages resolved for the hosts' OS, pgvector, manifest")
    b.add_argument("--client", required=True)
    b.add_argument("--out", required=True, help="a new folder")
    b.add_argument("--version", help="bundle version (default: UTC timestamp)")
    b.add_argument("--roles", default="base,vector_store", help="comma-separated roles to bundle for")
    b.add_argument("--image-cache", default="/var/cache/phistack-testhost", help="where the OS image is kept")
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
