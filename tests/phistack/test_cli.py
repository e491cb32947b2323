"""The phistack command as a user runs it: a subprocess, exit codes, one clear line, nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compliance.reports.bundle import verify_bundle
from compliance.reports.pdf import find_chromium
from infra.config_docs import BEGIN, END, render_markdown
from infra.sandbox.server import free_port
from infra.sandbox.server import moto_server as start_moto_server
from tests.conftest import EXAMPLE, ROOT


def phistack(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command as a user would; ``env`` adds to the environment (and then drops AWS_PROFILE)."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if env:
        full.pop("AWS_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "phistack", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plan_of_the_example_writes_plan_json(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = phistack("plan", "--client", "example", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "plan of example-clinic" in result.stdout and "total" in result.stdout
    plan = json.loads(out.read_text())
    assert plan["schema"] == "phistack/plan/v2" and plan["client"] == "example-clinic"
    types = {r["type"] for r in plan["resources"]}
    assert {"aws:ec2/vpc:Vpc", "aws:cloudtrail/trail:Trail", "aws:ec2/instance:Instance"} <= types
    assert {i["token"] for i in plan["invokes"]} == {
        "aws:index/getAvailabilityZones:getAvailabilityZones",
        "aws:ssm/getParameter:getParameter",
    }
    assert plan["config"]["phistack:client"] == "example-clinic"
    components = {r["component"] for r in plan["resources"] if r["custom"]}
    assert {"keys", "network", "endpoints", "audit_logging", "storage", "gpu_hosts", "guardrails"} <= components
    counted = sum(
        int(line.split()[-1])
        for line in result.stdout.splitlines()
        if line.startswith("  ") and line.split()[-1].isdigit() and "total" not in line
    )
    assert counted == sum(1 for r in plan["resources"] if r["custom"])


def test_plan_with_config_path_from_elsewhere(tmp_path: Path) -> None:
    result = phistack("plan", "--config", str(EXAMPLE), "--out", str(tmp_path / "p.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("config:\n  phistack:client: [\n", "not valid YAML"),
        (EXAMPLE.read_text().replace("10.40.0.0/16", "100.64.0.0/16"), "phistack:vpc_cidr = '100.64.0.0/16'"),
        (
            EXAMPLE.read_text().replace("g6e.xlarge", "g5.xlarge").replace("llama-3.1-8b", "llama-3.1-70b"),
            "types that can hold it",
        ),
    ],
)
def test_bad_config_exits_2_with_a_clear_line_and_writes_nothing(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "Pulumi.bad.yaml"
    config.write_text(content)
    out = tmp_path / "plan.json"
    result = phistack("plan", "--config", str(config), "--out", str(out))
    assert result.returncode == 2
    assert expected in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 5
    assert result.stdout == "" and not out.exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    both = phistack("plan", "--client", "example", "--config", str(EXAMPLE))
    assert both.returncode == 2 and "not allowed with" in both.stderr
    missing = phistack("plan", "--client", "nobody")
    assert missing.returncode == 2 and "Pulumi.nobody.yaml: the stack file does not exist" in missing.stderr
    outside = phistack("plan", "--client", "example", cwd=tmp_path)
    assert outside.returncode == 2 and "No Pulumi.yaml" in outside.stderr


def test_readme_config_reference_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    generated = readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)].strip()
    assert generated == render_markdown(), "run: phistack config-docs --write README.md"


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    head = (ROOT / "README.md").read_text().splitlines()[:25]
    assert any("scripts/demo.sh" in line for line in head)
    assert any("scripts/test.sh" in line for line in head)


def test_check_of_the_example_exits_0_and_writes_report(tmp_path: Path) -> None:
    result = phistack("check", "--client", "example", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["schema"] == "phistack/assessment/v1" and report["target"]["kind"] == "plan"
    assert report["summary"]["FAIL"] == 0 and report["summary"]["ERROR"] == 0
    assert "FAIL 0" in result.stdout


def test_check_flags_exactly_the_opt_outs(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "# phistack:allow_internet_egress: false", "phistack:allow_internet_egress: true"
    )
    text = text.replace(
        "phistack:log_retention_days: 2192",
        "phistack:log_retention_days: 365\n  phistack:allow_short_log_retention: true",
    )
    config = tmp_path / "Pulumi.optout.yaml"
    config.write_text(text)
    result = phistack("check", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    failed = sorted(c["id"] for c in report["controls"] if c["status"] == "FAIL")
    assert failed == ["logs-retention", "net-no-default-route", "net-no-internet-gateway", "net-no-nat-gateway"]
    nat = next(c for c in report["controls"] if c["id"] == "net-no-nat-gateway")
    assert nat["findings"][0]["resource_id"].startswith("arn:aws:ec2:us-east-1:111122223333:natgateway/nat-")


def test_check_reads_a_plan_file_and_applies_waivers(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert phistack("plan", "--client", "example", "--out", str(plan)).returncode == 0
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - control: s3-versioning\n    resource: '*'\n    justification: test\n"
        "    approver: me@example.org\n    expires: 2000-01-01\n"
    )
    expired = phistack("check", "--plan", str(plan), "--waivers", str(waivers), "--out", str(tmp_path / "o"))
    assert expired.returncode == 2 and "expired on 2000-01-01" in expired.stderr
    assert not (tmp_path / "o" / "report.json").exists()
    ok = phistack("check", "--plan", str(plan), "--out", str(tmp_path / "o"))
    assert ok.returncode == 0


def test_check_refuses_a_bad_plan_file(tmp_path: Path) -> None:
    bogus = tmp_path / "plan.json"
    bogus.write_text('{"schema": "something/else"}')
    result = phistack("check", "--plan", str(bogus), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "expected 'phistack/plan/v2'" in result.stderr
    assert "Traceback" not in result.stderr


def test_controls_doc_is_current() -> None:
    from compliance.docs import render_markdown

    assert (ROOT / "docs" / "controls.md").read_text() == render_markdown(), (
        "run: phistack controls-docs --write docs/controls.md"
    )


@pytest.fixture
def moto_server() -> Iterator[str]:
    with start_moto_server() as url:
        yield url


@pytest.fixture
def moto_server_authorizing(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server that authorizes every request against IAM after the first three (the test's setup)."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3")
    with start_moto_server() as url:
        monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
        yield url


def test_audit_of_an_emulated_account(moto_server: str, tmp_path: Path) -> None:
    import boto3

    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="open-bucket")
    env = creds
    result = phistack(
        "audit",
        "--endpoint-url",
        moto_server,
        "--max-attempts",
        "1",
        "--client",
        "example",
        "--out",
        str(tmp_path),
        env=env,
    )
    # FAILs, and what moto does not implement ERROR: incomplete (4) outranks failed (1), and says so first.
    assert result.returncode == 4, result.stderr
    errors = json.loads((tmp_path / "report.json").read_text())["summary"]["ERROR"]
    assert result.stdout.splitlines()[0] == (
        f"incomplete: {errors} controls could not be judged (ERROR below); this audit is not clean"
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["target"] == {
        "kind": "live",
        "account": "123456789012",
        "regions": ["us-east-1"],
        "client": "example-clinic",
    }
    by_id = {c["id"]: c for c in report["controls"]}
    assert by_id["s3-versioning"]["status"] == "FAIL"
    assert "open-bucket" in by_id["s3-versioning"]["findings"][0]["message"]
    # Read through the S3 Control host-prefix workaround, not skipped:
    assert by_id["s3-account-public-access-block"]["status"] == "FAIL"
    assert by_id["ec2-ssm-managed"]["status"] == "ERROR"
    assert "ssm:DescribeInstanceInformation" in by_id["ec2-ssm-managed"]["note"]
    assert by_id["manual-baa-aws"]["status"] == "PASS"  # attested in the example client config
    if find_chromium() is not None:  # printed by the Chromium started while the facts were collected
        from pypdf import PdfReader

        assert "123456789012" in PdfReader(tmp_path / "report.pdf").pages[0].extract_text()
        assert verify_bundle(tmp_path).intact  # the PDF is in the signed manifest like every other file
        assert "report.pdf" in (tmp_path / "manifest.json").read_text()


def test_an_audit_that_could_read_nothing_is_incomplete_never_clean(
    moto_server_authorizing: str, tmp_path: Path
) -> None:
    """Issue 33: credentials allowed only sts:GetCallerIdentity (moto enforcing IAM) came back 82 ERROR, 0 PASS,
    0 FAIL, exit 0, with no word that the audit judged nothing. Now: exit 4, and the CLI's first line, the
    report's first page and the JUnit suite say it is incomplete."""
    import boto3

    iam = boto3.client("iam", endpoint_url=moto_server_authorizing, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    iam.create_user(UserName="auditor")
    only_whoami = {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}
    iam.put_user_policy(UserName="auditor", PolicyName="whoami",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [only_whoami]}))  # fmt: skip
    key = iam.create_access_key(UserName="auditor")["AccessKey"]  # the last request moto lets through unchecked
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    result = phistack("audit", "--endpoint-url", moto_server_authorizing, "--region", "us-east-1", "--max-attempts",
                      "1", "--no-pdf", "--out", str(tmp_path), env=env)  # fmt: skip
    assert result.returncode == 4, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    automated = sum(1 for c in report["controls"] if c.get("automated", True))
    assert report["summary"]["PASS"] == report["summary"]["FAIL"] == 0
    assert report["summary"]["ERROR"] == automated  # every automated control, none judged
    first = f"incomplete: {automated} controls could not be judged"
    assert result.stdout.splitlines()[0].startswith(first + " (ERROR below); this audit is not clean")
    assert (
        f'<p class="incomplete" id="incomplete"><strong>{first.capitalize()}.</strong>'
        in (tmp_path / "report.html").read_text().split("<h2>Summary</h2>")[0]
    )  # on the first page, above the summary table
    junit = (tmp_path / "junit.xml").read_text()
    assert f'<property name="verdict" value="{first}" />' in junit
    assert f"<system-out>{first}: this assessment is not clean.</system-out>" in junit


def test_audit_of_an_unreachable_endpoint_exits_3(tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    result = phistack(
        "audit",
        "--endpoint-url",
        f"http://127.0.0.1:{free_port()}",
        "--region",
        "us-east-1",
        "--max-attempts",
        "1",
        "--out",
        str(tmp_path),
        env=env,
    )
    assert result.returncode == 3
    assert "Cannot read the account identity" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "report.json").exists()


def test_check_writes_a_signed_bundle_that_verifies_and_detects_tampering(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = phistack("check", "--client", "example", "--no-pdf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {
        "report.json",
        "report.html",
        "junit.xml",
        "manifest.json",
        "manifest.sig",
        "signing-key.pub.pem",
        "evidence",
    } <= {p.name for p in out.iterdir()}
    assert "signed with" in result.stdout and "report.html" in result.stdout
    key = tmp_path / "trusted.pem"
    key.write_bytes((out / "signing-key.pub.pem").read_bytes())
    ok = phistack("report", "verify", str(out), "--public-key", str(key))
    assert ok.returncode == 0 and "intact" in ok.stdout and "the given public key" in ok.stdout
    (out / "junit.xml").write_text((out / "junit.xml").read_text() + "<!-- edited -->\n")
    bad = phistack("report", "verify", str(out), "--public-key", str(key))
    assert bad.returncode == 1 and "junit.xml: SHA-256 differs" in bad.stderr
    rendered = phistack("report", "render", str(out), "--no-pdf")
    assert rendered.returncode == 0 and phistack("report", "verify", str(out), "--public-key", str(key)).returncode == 0
    not_bundle = phistack("report", "verify", str(tmp_path))
    assert not_bundle.returncode == 2 and "not a phistack bundle" in not_bundle.stderr


def test_report_diff_shows_drift(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    assert phistack("check", "--client", "example", "--no-pdf", "--out", str(good)).returncode == 0
    config = tmp_path / "Pulumi.optout.yaml"
    config.write_text(
        EXAMPLE.read_text().replace("# phistack:allow_internet_egress: false", "phistack:allow_internet_egress: true")
    )
    assert phistack("check", "--config", str(config), "--no-pdf", "--out", str(bad)).returncode == 1
    drift = phistack("report", "diff", str(good), str(bad))
    assert drift.returncode == 1
    assert "control net-no-internet-gateway: PASS -> FAIL" in drift.stdout
    same = phistack("report", "diff", str(good), str(good))
    assert same.returncode == 0 and same.stdout.strip() == "no change"


def test_out_dir_is_never_mixed_with_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = phistack("check", "--client", "example", "--no-pdf", "--out", str(tmp_path))
    assert result.returncode == 2 and "holds no phistack bundle" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_check_signed_with_a_kms_key(moto_server: str, tmp_path: Path) -> None:
    import boto3

    kms = boto3.client(
        "kms",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/phistack-signing", TargetKeyId=key_id)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server,
    }
    out = tmp_path / "bundle"
    result = phistack(
        "check", "--client", "example", "--no-pdf", "--sign-with", "kms:phistack-signing", "--out", str(out), env=env
    )
    assert result.returncode == 0, result.stderr
    assert "signed with KMS key alias/phistack-signing" in result.stdout
    from cryptography.hazmat.primitives import serialization

    trusted = tmp_path / "kms.pub.pem"
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    trusted.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verified = phistack("report", "verify", str(out), "--public-key", str(trusted))
    assert verified.returncode == 0, verified.stderr
    wrong = phistack(
        "check",
        "--client",
        "example",
        "--no-pdf",
        "--sign-with",
        "kms:no-such-key",
        "--out",
        str(tmp_path / "x"),
        env=env,
    )
    assert wrong.returncode == 3 and "kms:GetPublicKey answered NotFoundException" in wrong.stderr
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_demo_runs_the_whole_job_on_emulated_aws(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = phistack("demo", "--no-pdf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "1/3 embedded AWS emulator" in result.stderr and "the emulator is stopped" in result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["kind"] == "live" and report["target"]["account"] == "111122223333"
    assert report["summary"]["FAIL"] == 0
    by_id = {c["id"]: c for c in report["controls"]}
    waived = by_id["iam-root-mfa"]
    assert waived["status"] == "WAIVED" and "moto" in waived["findings"][0]["waiver"]["justification"]
    assert by_id["ec2-ssm-managed"]["status"] == "ERROR"  # named, not hidden
    assert (out / "report.html").exists() and (out / "manifest.sig").exists()


def test_sandbox_up_status_down(tmp_path: Path) -> None:
    env = {"PHISTACK_SANDBOX_DIR": str(tmp_path / "sandbox")}
    try:
        up = phistack("sandbox", "up", "--client", "example", env=env)
        assert up.returncode == 0, up.stderr
        outputs = json.loads(up.stdout)  # like `pulumi stack output --json`
        assert outputs["gpu_instance_ids"][0].startswith("i-") and outputs["account_id"] == "111122223333"
        assert "not created: aws:ec2/instanceMetadataDefaults" in up.stderr  # emulator gaps are said
        again = phistack("sandbox", "up", "--client", "example", env=env)
        assert again.returncode == 2 and "already up" in again.stderr
        status = phistack("sandbox", "status", env=env)
        # 131 before issue 16 added the document event queue, its dead-letter queue, their policies, the
        # bucket notification and the SQS endpoint
        assert "example-clinic: 150 resources" in status.stdout
    finally:
        down = phistack("sandbox", "down", env=env)
    assert down.returncode == 0 and "stopped the embedded AWS emulator" in down.stdout
    assert phistack("sandbox", "status", env=env).stdout.strip() == "no sandbox is running"


def test_a_sandbox_up_that_fails_part_way_leaves_nothing_behind(tmp_path: Path) -> None:
    """The issue's case: the emulated account already holds something the stack names (a leftover, a landing
    zone), so `up` stops part-way. The collision is a host log group, which is created only after the logs key it
    is encrypted with, so something certainly was created before the failure. An emulator of the sandbox's own,
    holding no other client, is reset, and the retried `up` succeeds; against one someone else runs, the partial
    apply is recorded, `status` lists it, the next `up` says so, and `down` removes it."""
    import boto3

    from infra.sandbox.state import start_server

    def client(service: str, url: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="t",
                            aws_secret_access_key="t")  # fmt: skip

    def collide(url: str) -> None:
        client("logs", url).create_log_group(logGroupName="/phistack/example-clinic/hosts/journald")

    def stack_keys(url: str) -> list[str]:
        """The stack's usable keys. Keys, not their aliases: the colliding log group waits for the logs key
        only, so which aliases exist when the up fails depends on the apply's order."""
        kms = client("kms", url)
        out = []
        for k in kms.list_keys()["Keys"]:
            tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=k["KeyId"]).get("Tags", [])}
            state = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
            if tags.get("phistack:client") == "example-clinic" and state != "PendingDeletion":
                out.append(k["KeyId"])
        return out

    own = {"PHISTACK_SANDBOX_DIR": str(tmp_path / "own")}
    server = start_server(tmp_path / "own", "111122223333")  # as an earlier `sandbox up` left it running
    try:
        collide(server.url)
        failed = phistack("sandbox", "up", "--client", "example", env=own)
        assert failed.returncode == 3, failed.stderr
        error = failed.stderr.strip().splitlines()[-1]
        assert "ResourceAlreadyExists" in error and "resources it had created were removed" in error
        assert "example-clinic" not in phistack("sandbox", "status", env=own).stdout
        again = phistack("sandbox", "up", "--client", "example", env=own)
        assert again.returncode == 0, again.stderr  # nothing left to collide with
    finally:
        phistack("sandbox", "down", env=own)

    external = {"PHISTACK_SANDBOX_DIR": str(tmp_path / "external")}
    with start_moto_server(account_id="111122223333") as url:
        collide(url)
        failed = phistack("sandbox", "up", "--client", "example", "--endpoint-url", url, env=external)
        assert failed.returncode == 3 and "`phistack sandbox down` removes them" in failed.stderr
        assert "example-clinic: FAILED part-way" in phistack("sandbox", "status", env=external).stdout
        retried = phistack("sandbox", "up", "--client", "example", "--endpoint-url", url, env=external)
        assert retried.returncode == 2 and "left part-way by a failed up" in retried.stderr
        assert stack_keys(url)  # the partial apply (at least the logs key) is there until `down`
        assert phistack("sandbox", "down", env=external).returncode == 0
        assert not stack_keys(url)
        ec2 = client("ec2", url)
        assert not ec2.describe_vpcs(Filters=[{"Name": "tag:phistack:client", "Values": ["example-clinic"]}])["Vpcs"]
