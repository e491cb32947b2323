"""Benchmark: `phistack fleet audit` of N clients against N sequential `phistack audit` runs, in one run.

One moto server holds N emulated accounts (default 20), each populated like bench/audit.py's small account
through a role assumed in it. Baseline: what a team does without the fleet command, one `phistack audit` per
client one after another, each through an AWS profile that assumes the client's role with its external id
(AWS_CONFIG_FILE). Then one `phistack fleet audit` of the same clients. Both write every signed bundle without
the PDF. Prints both wall times, the ratio (fleet / sequential; the issue's target is at most 0.4), and the
peak memory of each (GNU time's max RSS: the largest single `audit`, and the fleet process).

    .venv/bin/python bench/fleet.py [--clients 20] [--at-once 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import boto3
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit import CREDS, REGION, ROOT, SIZES, populate, timed  # noqa: E402

from infra.sandbox.server import moto_server  # noqa: E402


def account_of(i: int) -> str:
    return f"{100000000000 + i:012d}"


def role_of(i: int) -> str:
    return f"arn:aws:iam::{account_of(i)}:role/phistack-audit"


def assumed(url: str, i: int) -> boto3.Session:
    sts = boto3.client("sts", endpoint_url=url, region_name=REGION, **_creds())
    c = sts.assume_role(RoleArn=role_of(i), RoleSessionName="bench-setup")["Credentials"]
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=REGION,
    )


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": CREDS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": CREDS["AWS_SECRET_ACCESS_KEY"]}


def write_files(tmp: Path, clients: int) -> tuple[Path, Path]:
    """The fleet file, and an AWS config file with one assume-role profile per client (the baseline's way)."""
    entries = [
        {"name": f"clinic-{i:02d}", "account": account_of(i), "regions": [REGION], "role_arn": role_of(i),
         "external_id": f"bench-{i:02d}"}
        for i in range(clients)
    ]  # fmt: skip
    fleet = tmp / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"clients": entries}), encoding="utf-8")
    lines = ["[profile auditor]", f"region = {REGION}", ""]
    for i in range(clients):
        lines += [f"[profile clinic-{i:02d}]", f"role_arn = {role_of(i)}", "source_profile = auditor",
                  f"external_id = bench-{i:02d}", f"region = {REGION}", ""]  # fmt: skip
    config = tmp / "aws-config"
    config.write_text("\n".join(lines), encoding="utf-8")
    credentials = tmp / "aws-credentials"
    credentials.write_text(
        f"[auditor]\naws_access_key_id = {CREDS['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {CREDS['AWS_SECRET_ACCESS_KEY']}\n",
        encoding="utf-8",
    )
    return fleet, config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--at-once", type=int, default=4, help="the fleet's --clients (accounts at a time)")
    args = parser.parse_args()
    tmp = ROOT / "bench" / ".out" / "fleet"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fleet_file, config = write_files(tmp, args.clients)
    phistack = str(ROOT / ".venv" / "bin" / "phistack")
    with moto_server() as url:
        started = time.perf_counter()
        resources = sum(populate(url, SIZES["small"], assumed(url, i), f"c{i:02d}") for i in range(args.clients))
        print(f"{args.clients} small accounts, {resources} resources, created in {time.perf_counter() - started:.1f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "aws-credentials"),
                "AWS_ENDPOINT_URL": url, "PHISTACK_KEY_DIR": str(tmp / "keys")}  # fmt: skip
        common = ["--max-attempts", "1", "--no-pdf"]
        (tmp / "seq").mkdir()
        sequential, peak_one = 0.0, 0
        for i in range(args.clients):
            seconds, rss, out = timed(
                [phistack, "audit", "--profile", f"clinic-{i:02d}", "--out", str(tmp / "seq" / f"clinic-{i:02d}"),
                 "--region", REGION, *common],
                env,
            )  # fmt: skip
            if out.returncode not in (0, 1):
                print(out.stderr[-2000:], file=sys.stderr)
                return 3
            sequential += seconds
            peak_one = max(peak_one, rss)
        fleet_seconds, fleet_rss, out = timed(
            [phistack, "fleet", "audit", str(fleet_file), "--profile", "auditor", "--out", str(tmp / "runs"),
             "--clients", str(args.at_once), *common],
            env,
        )  # fmt: skip
        if out.returncode not in (0, 1):
            print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
            return 3
    print(
        f"baseline, {args.clients} sequential `phistack audit` runs: {sequential:.1f} s, peak {peak_one / 1024:.0f} MiB"
    )
    print(
        f"`phistack fleet audit --clients {args.at_once}`: {fleet_seconds:.1f} s, peak {fleet_rss / 1024:.0f} MiB"
        f" ({out.stdout.strip().splitlines()[-2]})"
    )
    print(f"ratio fleet / sequential: time {fleet_seconds / sequential:.2f}x (target <= 0.4x), "
          f"peak memory {fleet_rss / peak_one:.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
