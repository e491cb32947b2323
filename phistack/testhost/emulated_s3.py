"""The artifact bucket for a test host: a moto server bound to this machine's side of the host's veth (the only
address the host can reach), with a bucket and a KMS key, the install bundle uploaded to it with
`phistack bundle upload`, and the client's private CA made as `phistack ca init` makes it. What a host in the
VPC sees through the S3 gateway endpoint, minus AWS.

    python -m phistack.testhost.emulated_s3 up ADDRESS BUNDLE_DIR STATE_DIR   # prints artifacts_*, pki_* (JSON)
    python -m phistack.testhost.emulated_s3 down STATE_DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3

from infra.hosts import ca
from infra.hosts.bundle.presign import s3_client
from infra.hosts.bundle.upload import upload
from infra.sandbox.server import free_port, wait_until_serving

REGION, BUCKET, CLIENT = "us-east-1", "phistack-test-artifacts", "molecule"


def up(address: str, bundle: Path, state: Path) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    down(state)
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    server = subprocess.Popen(
        [sys.executable, "-m", "infra.sandbox.motoserver", "-H", address, "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(state / "moto.log").open("wb"),
        start_new_session=True,
    )
    (state / "moto.pid").write_text(str(server.pid))
    url = f"http://{address}:{port}"
    wait_until_serving(server, f"{url}/moto-api/data.json", 20, f"moto server on {url}")
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    s3 = s3_client(session, REGION, url)
    s3.create_bucket(Bucket=BUCKET)
    key = session.client("kms", endpoint_url=url).create_key()["KeyMetadata"]["Arn"]
    done = upload(s3, bundle, BUCKET, key)
    ca.store(s3, BUCKET, key, CLIENT, ca.new_ca(CLIENT))
    return {
        "pki_client": CLIENT,
        "pki_bucket": BUCKET,
        "pki_region": REGION,
        "pki_s3_endpoint_url": url,
        "artifacts_bucket": BUCKET,
        "artifacts_region": REGION,
        "artifacts_prefix": done.prefix,
        "artifacts_manifest_sha256": done.manifest_sha256,
        "artifacts_s3_endpoint_url": url,
    }


def down(state: Path) -> None:
    pid_file = state / "moto.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m phistack.testhost.emulated_s3")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args()
    if ns.action == "up":
        address, bundle, state = ns.args
        print(json.dumps(up(address, Path(bundle), Path(state))))  # noqa: T201
    else:
        down(Path(ns.args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
