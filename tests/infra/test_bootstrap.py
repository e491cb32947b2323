"""The GPU hosts' first-boot script: it passes shellcheck, installs only a signature-checked SSM agent over HTTPS
from a bucket the S3 gateway endpoint admits, and the program gives it to every host without letting a changed
script stop or replace a running one."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra import bootstrap
from infra.components.endpoints import regional_aws_buckets
from infra.config import ClientConfig
from infra.plan import Plan


def test_the_script_passes_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/system-deps.sh installs it)")
    script = tmp_path / "user-data.sh"
    script.write_text(bootstrap.user_data("eu-west-1"))
    checked = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_it_installs_only_what_verifies_against_the_embedded_key() -> None:
    script = bootstrap.user_data("us-west-2")
    assert bootstrap.keyring() in script  # AWS's SSM Agent key, verbatim
    assert 'sqv --keyring "$WORK/aws-ssm-agent.asc" "$2" "$1"' in script
    verify_at = script.index('if ! verify "$WORK/agent.deb" "$WORK/agent.deb.sig"')
    assert script.index('dpkg -i "$WORK/agent.deb"') > verify_at  # nothing is installed before it verifies
    assert "exit 1" in script[verify_at : script.index("dpkg -i")]
    urls = [word.strip('"') for line in script.splitlines() for word in line.split() if "https://s3." in word]
    assert urls and all(u.startswith('AGENT_URL="https://') or u.startswith("https://") for u in urls)


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1", "ap-southeast-2"])
def test_the_endpoint_policy_admits_the_bucket_the_script_downloads_from(region: str) -> None:
    assert bootstrap.bucket_of(bootstrap.ssm_agent_url(region)) == f"amazon-ssm-{region}"
    assert bootstrap.bucket_of(bootstrap.ssm_agent_url(region)) in regional_aws_buckets(region)
    assert not any("cloudwatch" in b for b in regional_aws_buckets(region))  # that agent comes from the bundle


def _resources(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [r for r in plan.to_json({})["resources"] if r["type"] == kind]


def test_every_planned_host_boots_the_script_and_the_planned_policy_admits_its_bucket(
    planned: Callable[[str], tuple[ClientConfig, Plan]],
) -> None:
    cfg, plan = planned("multi-host")
    hosts = _resources(plan, "aws:ec2/instance:Instance")
    assert len(hosts) == cfg.gpu.count
    for host in hosts:
        assert host["inputs"]["userData"] == bootstrap.user_data(cfg.region)
        assert host["inputs"].get("userDataReplaceOnChange") is False
    (endpoint,) = [
        e for e in _resources(plan, "aws:ec2/vpcEndpoint:VpcEndpoint") if e["inputs"]["serviceName"].endswith(".s3")
    ]
    policy = json.loads(endpoint["inputs"]["policy"])
    admitted = json.dumps(policy)
    assert f"arn:aws:s3:::{bootstrap.bucket_of(bootstrap.ssm_agent_url(cfg.region))}/*" in admitted
