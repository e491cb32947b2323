"""Benchmark: `phistack audit` against Prowler's HIPAA framework, on the same emulated accounts, in one run.

For each account size (small; large: 2,000 buckets, 800 log groups, 400 instances, 20 VPCs, 50 keys,
5 trails) a fresh moto server is populated through boto3, then both tools scan it:
- timed: wall time and peak memory (GNU time's max RSS) of `phistack audit` (writing its whole bundle:
  report.json, HTML, PDF, OSCAL, JUnit, evidence, signed manifest; peak memory is the largest single
  process, phistack's or one of Chromium's), once more without the PDF (what the PDF costs), and of
  `prowler aws --compliance hipaa_aws` (installed by this script in bench/.prowler-venv);
- counted, in a separate untimed pass: the HTTP requests each tool sends, through a counting proxy, so
  the proxy's overhead never enters the timings.
Prints times, memory, ratios, API calls per resource and the findings counts of both.

    .venv/bin/python bench/audit.py [--sizes small large] [--skip-prowler]
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from compliance.prowler import PROWLER_VERSION
from infra.sandbox.server import free_port, moto_server

ROOT = Path(__file__).resolve().parents[1]
PROWLER_VENV = ROOT / "bench" / ".prowler-venv"
REGION = "us-east-1"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
SIZES = {
    "small": {"buckets": 5, "log_groups": 5, "instances": 2, "vpcs": 1, "keys": 2, "trails": 1},
    "large": {"buckets": 2000, "log_groups": 800, "instances": 400, "vpcs": 20, "keys": 50, "trails": 5},
}


class _Counter(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the moto server unchanged and counts it."""

    upstream: tuple[str, int] = ("127.0.0.1", 0)
    count = 0
    lock = threading.Lock()

    def _forward(self) -> None:
        with _Counter.lock:
            _Counter.count += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def counting_proxy(upstream: str) -> Iterator[str]:
    host, port = upstream.removeprefix("http://").split(":")
    _Counter.upstream, _Counter.count = (host, int(port)), 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def populate(url: str, size: dict[str, int], session: boto3.Session | None = None, prefix: str = "bench") -> int:
    """Create the account's resources (in the session's account; bucket names start with ``prefix``, as bucket
    names are global); return how many were created."""
    s = session or boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")

    def client(name: str) -> Any:
        return s.client(name, endpoint_url=url)  # type: ignore[call-overload]

    ec2, s3, logs, kms, ct = (client(n) for n in ("ec2", "s3", "logs", "kms", "cloudtrail"))
    subnets = []
    for v in range(size["vpcs"]):
        vpc = ec2.create_vpc(CidrBlock=f"10.{v}.0.0/16")["Vpc"]["VpcId"]
        subnets.append(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{v}.1.0/24")["Subnet"]["SubnetId"])
        ec2.create_security_group(GroupName=f"app-{v}", Description="app", VpcId=vpc)
    keys = [kms.create_key()["KeyMetadata"]["Arn"] for _ in range(size["keys"])]

    def bucket(i: int) -> None:
        name = f"{prefix}-bucket-{i:05d}"
        s3.create_bucket(Bucket=name)
        if i % 2:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if i % 3 == 0:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys[0]}}
                    ]
                },
            )

    def group(i: int) -> None:
        logs.create_log_group(logGroupName=f"/bench/group-{i:05d}")
        if i % 2:
            logs.put_retention_policy(logGroupName=f"/bench/group-{i:05d}", retentionInDays=2192)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bucket, range(size["buckets"])))
        list(pool.map(group, range(size["log_groups"])))
    remaining = size["instances"]
    i = 0
    while remaining:
        n = min(50, remaining)
        ec2.run_instances(
            ImageId="ami-0123456789abcdef0",
            InstanceType="t3.micro",
            MinCount=n,
            MaxCount=n,
            SubnetId=subnets[i % len(subnets)],
        )
        remaining -= n
        i += 1
    for t in range(size["trails"]):
        ct.create_trail(Name=f"bench-trail-{t}", S3BucketName=f"{prefix}-bucket-00000", IsMultiRegionTrail=t == 0)
    return sum(size.values()) + 2 * size["vpcs"]


def fresh(path: Path) -> Path:
    """An empty output directory: findings from an earlier run must never be counted again."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Wall seconds and peak RSS (KiB, GNU time) of one command."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "__TIME__ %e %M", *cmd], env=env, capture_output=True, text=True, check=False
    )
    line = next(x for x in out.stderr.splitlines() if x.startswith("__TIME__"))
    _, seconds, rss = line.split()
    return float(seconds), int(rss), out


# Timed runs per tool (medians reported): this 2-core VM varies by a tenth of a second or more from run to run.
REPEATS = {"small": 3, "large": 1}


def median_of(
    n: int, run: Callable[[], tuple[float, int, subprocess.CompletedProcess[str]]]
) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """The run with the median wall time of ``n`` (its memory and output with it)."""
    runs = sorted((run() for _ in range(n)), key=lambda r: r[0])
    return runs[len(runs) // 2]


def ensure_prowler() -> Path:
    prowler = PROWLER_VENV / "bin" / "prowler"
    if not prowler.exists():
        print("installing Prowler into bench/.prowler-venv (a few minutes, once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PROWLER_VENV)], check=True)
        pin = f"prowler=={PROWLER_VERSION}"  # the version compliance/prowler.py's crosswalk was read from
        subprocess.run([str(PROWLER_VENV / "bin" / "pip"), "install", "-q", pin], check=True)
    return prowler


def phistack_cmd(url: str, out: Path, pdf: bool = True) -> list[str]:
    return [
        str(ROOT / ".venv" / "bin" / "phistack"),
        "audit",
        "--endpoint-url",
        url,
        "--region",
        REGION,
        "--max-attempts",
        "1",
        *([] if pdf else ["--no-pdf"]),
        "--out",
        str(out),
    ]


def prowler_cmd(prowler: Path, out: Path) -> list[str]:
    return [
        str(prowler),
        "aws",
        "--compliance",
        "hipaa_aws",
        "-f",
        REGION,
        "--output-formats",
        "json-ocsf",
        "csv",
        "-o",
        str(out),
        "--no-banner",
        "-z",
        "--aws-retries-max-attempts",
        "0",
    ]


def prowler_findings(out: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in out.glob("*.ocsf.json"):
        for finding in json.loads(path.read_text() or "[]"):
            status = finding.get("status_code", "?")
            counts[status] = counts.get(status, 0) + 1
    return counts


def run_size(name: str, size: dict[str, int], prowler: Path | None, tmp: Path) -> None:
    env = {**os.environ, **CREDS}
    env.pop("AWS_PROFILE", None)
    with moto_server() as url:
        t0 = time.perf_counter()
        resources = populate(url, size)
        print(f"\n== {name} account: {resources} resources created in {time.perf_counter() - t0:.1f} s")
        # moto loads a service's backend on its first request (a second or more on two cores): one untimed pass
        # of each tool first, so neither tool's timing pays for the other's warm-up or its own.
        warm_env = {**env, "AWS_ENDPOINT_URL": url}
        subprocess.run(phistack_cmd(url, fresh(tmp / f"{name}-warm"), pdf=False), env=warm_env, capture_output=True)
        if prowler is not None:
            subprocess.run(prowler_cmd(prowler, fresh(tmp / f"{name}-warm-prowler")), env=warm_env, capture_output=True)
        e = {**env, "AWS_ENDPOINT_URL": url}
        repeat = REPEATS[name]
        p_sec, p_rss, p_out = median_of(repeat, lambda: timed(phistack_cmd(url, fresh(tmp / f"{name}-phistack")), e))
        report = json.loads((tmp / f"{name}-phistack" / "report.json").read_text())
        print(
            f"phistack audit (median of {repeat}): {p_sec:.2f} s, peak {p_rss / 1024:.0f} MiB, exit "
            f"{p_out.returncode}, findings by control status {report['summary']}, "
            f"{report['collection']['api_calls']} API calls for {report['collection']['facts']} facts"
        )
        n_sec, _, _ = median_of(
            repeat, lambda: timed(phistack_cmd(url, fresh(tmp / f"{name}-phistack-no-pdf"), pdf=False), e)
        )
        printed = (tmp / f"{name}-phistack" / "report.pdf").exists()
        print(
            f"  where the time goes: collecting facts {report['collection']['seconds']:.2f} s (last run); the same "
            f"audit without the PDF {n_sec:.2f} s (report.pdf {'printed' if printed else 'NOT printed: no Chromium'})"
        )
        if prowler is not None:
            w_sec, w_rss, w_out = median_of(
                repeat, lambda: timed(prowler_cmd(prowler, fresh(tmp / f"{name}-prowler")), e)
            )
            print(
                f"prowler hipaa_aws (median of {repeat}): {w_sec:.2f} s, peak {w_rss / 1024:.0f} MiB, exit "
                f"{w_out.returncode}, findings {prowler_findings(tmp / f'{name}-prowler')}"
            )
            print(f"ratios (prowler / phistack): time {w_sec / p_sec:.1f}x, peak memory {w_rss / p_rss:.1f}x")
        with counting_proxy(url) as proxy:
            subprocess.run(
                phistack_cmd(proxy, fresh(tmp / f"{name}-phistack-counted"), pdf=False),
                env={**env, "AWS_ENDPOINT_URL": proxy},
                capture_output=True,
                check=False,
            )
            p_calls = _Counter.count
            line = f"API requests (counted, untimed pass): phistack {p_calls} ({p_calls / resources:.2f} per resource)"
            if prowler is not None:
                _Counter.count = 0
                subprocess.run(
                    prowler_cmd(prowler, fresh(tmp / f"{name}-prowler-counted")),
                    env={**env, "AWS_ENDPOINT_URL": proxy},
                    capture_output=True,
                    check=False,
                )
                w_calls = _Counter.count
                line += f", prowler {w_calls} ({w_calls / resources:.2f} per resource)"
            print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "large"], choices=sorted(SIZES))
    parser.add_argument("--skip-prowler", action="store_true")
    args = parser.parse_args()
    prowler = None if args.skip_prowler else ensure_prowler()
    tmp = ROOT / "bench" / ".out"
    tmp.mkdir(parents=True, exist_ok=True)
    for name in args.sizes:
        run_size(name, SIZES[name], prowler, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
