"""`phistack inventory` on the example stack applied to emulated AWS: the real amazon.aws.aws_ec2 plugin finds the
stack's GPU hosts by their phistack:client tag and reaches them through SSM, never SSH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import parse_client_config
from infra.hosts.inventory import InventoryError, render
from infra.sandbox.apply import apply_to_emulator
from infra.sandbox.server import moto_server
from phistack.cli import main

BIN = Path(sys.executable).parent


def plain(value: object) -> object:
    """ansible-inventory --list marks templated strings as unsafe: {"__ansible_unsafe": "..."}."""
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_the_aws_ec2_plugin_lists_the_stacks_hosts_with_ssm(example_raw: dict[str, str], tmp_path: Path) -> None:
    cfg = parse_client_config(example_raw, "example")
    with moto_server(account_id=cfg.account_id) as url:
        plan, _ = apply_to_emulator(cfg, example_raw, url)
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps(plan.outputs))
        inventory = tmp_path / "example.aws_ec2.yml"
        assert main(["inventory", "--outputs", str(outputs), "--out", str(inventory), "--endpoint-url", url]) == 0
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "ANSIBLE_INVENTORY_CACHE": "0"}
        listed = subprocess.run(
            [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert listed.returncode == 0, listed.stderr[-2000:]
    found = json.loads(listed.stdout)
    hosts = found["phistack"]["hosts"]
    assert len(hosts) == cfg.gpu.count and all(h.startswith("i-") for h in hosts)
    facts = {k: plain(v) for k, v in found["_meta"]["hostvars"][hosts[0]].items()}
    assert facts["ansible_connection"] == "amazon.aws.aws_ssm"
    assert facts["ansible_aws_ssm_bucket_name"] == plan.outputs["buckets"]["ssm_transfer"]
    assert facts["artifacts_bucket"] == plan.outputs["buckets"]["artifacts"]
    assert facts["pki_bucket"] == facts["artifacts_bucket"] and facts["pki_client"] == cfg.client  # the CA's place
    assert facts["vector_store_enabled"] is True  # the example keeps PostgreSQL on the host (not Aurora)
    assert facts["log_shipping_anchor_to"] == plan.outputs["audit_anchors"]  # where the hosts anchor the audit chain
    assert {k: plain(v) for k, v in facts["log_shipping_log_groups"].items()} == {
        k: plan.outputs["log_groups"][k] for k in ("hosts_journald", "hosts_auditd", "gateway_audit")
    }
    assert set(found["phistack_gpu_host"]["hosts"]) == set(hosts)
    # The base role finds each host's data volume by this id (its NVMe serial); the engine gets the config's model.
    assert plain(facts["base_data_volume_id"]).startswith("vol-")
    assert facts["rag_gateway_aws_region"] == cfg.region  # an ssm: source for the IdP's keys is read there
    assert plain(facts["llm_server_served_name"]) == cfg.model.name == plain(facts["rag_gateway_llm_model"])
    assert facts["llm_server_max_model_len"] == cfg.model.max_model_len and facts["llm_server_tensor_parallel"] == 1


def test_outputs_that_are_not_a_stacks_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InventoryError, match="no buckets.ssm_transfer"):
        render({"client": "c", "region": "us-east-1", "buckets": {}})
    bad = tmp_path / "o.json"
    bad.write_text("{not json")
    assert main(["inventory", "--outputs", str(bad)]) == 2
    assert "not readable JSON" in capsys.readouterr().err


def test_client_reads_the_stack_outputs_through_the_pulumi_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Pulumi CLI cannot be installed here, so a named stand-in plays it: FAKE_PULUMI prints saved outputs
    for `stack output --json --stack clinic-a` and fails as the CLI does for an unknown stack."""
    groups = {k: f"/phistack/clinic-a/{k}" for k in ("hosts_journald", "hosts_auditd", "gateway_audit")}
    llm = {"served_name": "llama-3.1-8b-instruct", "quantization": "", "max_model_len": 8192, "tensor_parallel_size": 1}
    events = {"queue_url": "https://sqs/q", "dead_letter_queue_url": "https://sqs/dlq"}
    outputs = {"client": "clinic-a", "region": "us-east-1", "llm": llm, "log_groups": groups, "docs_events": events,
               "buckets": {"ssm_transfer": "x", "artifacts": "a", "docs": "d"},
               "audit_anchors": "s3://l/audit-anchors"}  # fmt: skip
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n# FAKE_PULUMI: a stand-in for the Pulumi CLI, which cannot be installed in this environment\n"
        f'[ "$*" = "stack output --json --stack clinic-a" ] && echo \'{json.dumps(outputs)}\' && exit 0\n'
        "echo \"error: no stack named '$5' found\" >&2; exit 255\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    out = tmp_path / "inv.yml"
    assert main(["inventory", "--client", "clinic-a", "--out", str(out)]) == 0
    assert "filters:\n  tag:phistack:client: clinic-a" in out.read_text()
    assert main(["inventory", "--client", "clinic-b", "--out", str(out)]) == 2
    assert "no stack named 'clinic-b' found" in capsys.readouterr().err
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["inventory", "--client", "clinic-a", "--out", str(out)]) == 2
    assert "the Pulumi CLI is not on PATH" in capsys.readouterr().err
