"""Templates the Molecule host cannot run: the vLLM engine's unit (no GPU here) and the CloudWatch agent's
configuration (its .deb comes only from AWS). Rendered with Jinja2 as Ansible renders them, and checked for the
settings the roles promise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"


def render(role: str, template: str, **overrides: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLES / role / "templates"), keep_trailing_newline=True)
    env.filters["to_nice_json"] = lambda value: json.dumps(value, indent=4, sort_keys=True)
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    return env.get_template(template).render(ansible_managed="managed", **{**defaults, **overrides})


def test_the_vllm_unit_is_offline_mutual_tls_and_uses_every_gpu() -> None:
    unit = render("llm_server", "phistack-llm.service.j2", llm_server_gpu_count=4)
    start = unit.split("ExecStart=", 1)[1].split("\nRestart=", 1)[0].replace("\\\n", " ")
    args = start.split()
    assert args[:3] == ["/opt/phistack/llm/venv/bin/vllm", "serve", "/opt/phistack/models/Meta-Llama-3.1-8B-Instruct"]
    pairs = dict(zip(args[3::2], args[4::2], strict=False))
    assert pairs["--tensor-parallel-size"] == "4" and pairs["--host"] == "127.0.0.1"
    assert pairs["--ssl-cert-reqs"] == "2" and pairs["--ssl-ca-certs"] == "/etc/phistack/tls/ca.crt"
    assert "--api-key" not in args  # mutual TLS instead: --api-key leaves routes such as /invocations open
    for line in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "User=phistack-llm", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "CapabilityBoundingSet="):  # fmt: skip
        assert line in unit, line
    assert "PrivateDevices=yes" not in unit  # vLLM needs the GPUs' device nodes; llama.cpp gets none
    assert "PrivateDevices=yes" in render("llm_server", "phistack-llm.service.j2", llm_server_engine="llama_cpp")


def test_the_agent_ships_each_file_to_the_stacks_log_group() -> None:
    groups = {k: f"/phistack/clinic-a/{k}" for k in ("hosts_journald", "hosts_auditd", "gateway_audit")}
    config = json.loads(
        render("log_shipping", "amazon-cloudwatch-agent.json.j2", log_shipping_region="us-east-1",
               log_shipping_log_groups=groups)
    )  # fmt: skip
    assert config["agent"]["region"] == "us-east-1"
    shipped = {f["file_path"]: f["log_group_name"] for f in config["logs"]["logs_collected"]["files"]["collect_list"]}
    assert shipped == {
        "/var/log/audit/audit.log": groups["hosts_auditd"],
        "/var/log/phistack/journal.log": groups["hosts_journald"],
        "/var/log/phistack/audit-events.jsonl": groups["gateway_audit"],
    }
