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
    env.filters["to_json"] = json.dumps
    env.filters["bool"] = lambda value: value if isinstance(value, bool) else str(value).lower() in ("true", "yes", "1")
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    values = {**defaults, **overrides}
    for name, value in values.items():  # a default made of other variables, as Ansible resolves it
        if isinstance(value, str) and "{{" in value:
            values[name] = env.from_string(value).render(**values)
    return env.get_template(template).render(ansible_managed="managed", **values)


def test_the_vllm_unit_is_offline_mutual_tls_and_uses_every_gpu() -> None:
    unit = render("llm_server", "phistack-llm.service.j2", llm_server_gpu_count=4)
    start = unit.split("ExecStart=", 1)[1].split("\nRestart=", 1)[0].replace("\\\n", " ")
    args = start.split()
    assert args[:3] == ["/opt/phistack/llm/venv/bin/vllm", "serve", "/data/models/Meta-Llama-3.1-8B-Instruct"]
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
        "/data/spool/phistack/journal.log": groups["hosts_journald"],
        "/data/spool/phistack/audit-events.jsonl": groups["gateway_audit"],
    }


def _unit_args(unit: str) -> dict[str, str]:
    start = unit.split("ExecStart=", 1)[1].split("\nRestart=", 1)[0].replace("\\\n", " ").split()
    return dict(zip(start[3::2], start[4::2], strict=False))


def test_the_client_config_reaches_the_vllm_unit_through_outputs_and_inventory(
    example_raw: dict[str, str],
) -> None:
    """One path: Pulumi.<client>.yaml → the program's stack outputs → `phistack inventory`'s composed variables →
    the rendered unit. Changing the config changes the unit; nothing is typed twice."""
    import ast

    from infra.config import parse_client_config
    from infra.hosts.inventory import render as inventory
    from infra.plan import run_plan
    from tests.conftest import encode

    def unit_for(prequantized: bool = False, **overrides: Any) -> dict[str, str]:
        raw = {**example_raw, **{k: encode(v) for k, v in overrides.items()}}
        plan = run_plan(parse_client_config(raw, "test.yaml"), raw)
        composed = yaml.safe_load(inventory(plan.outputs))["compose"]
        host_vars = {k: ast.literal_eval(v) for k, v in composed.items() if k.startswith("llm_server_")}
        assert ast.literal_eval(composed["rag_gateway_llm_model"]) == host_vars["llm_server_served_name"]
        # As the role's service task does: the GPU count is the tensor-parallel size the inventory gives.
        gpus = host_vars["llm_server_tensor_parallel"]
        unit = render(
            "llm_server",
            "phistack-llm.service.j2",
            llm_server_gpu_count=gpus,
            llm_server_prequantized=str(prequantized),  # as the role's task gives it: a template's string
            **host_vars,
        )
        return _unit_args(unit)

    default = unit_for()  # llama-3.1-8b-instruct, bf16, 8192 tokens on a g6e.xlarge (1 GPU)
    assert default["--max-model-len"] == "8192" and default["--tensor-parallel-size"] == "1"
    assert "--quantization" not in default and default["--served-model-name"] == "llama-3.1-8b-instruct"
    awq_70b = {
        "phistack:model": {"name": "llama-3.1-70b-instruct", "quantization": "awq-int4", "max_model_len": 16384},
        "phistack:gpu": {"instance_type": "g6e.12xlarge"},
    }
    changed = unit_for(**awq_70b)
    assert changed["--max-model-len"] == "16384" and changed["--tensor-parallel-size"] == "4"
    assert changed["--quantization"] == "awq_marlin" and changed["--served-model-name"] == "llama-3.1-70b-instruct"
    # An AWQ checkpoint names its own format: vLLM refuses a --quantization that differs from it, so none is given.
    assert "--quantization" not in unit_for(prequantized=True, **awq_70b)
    fp8 = unit_for(**{"phistack:model": {"quantization": "fp8"}})
    assert fp8["--quantization"] == "fp8"  # bf16 weights, quantized by vLLM as it loads them
    big = unit_for(
        prequantized=True,
        **{
            "phistack:model": {"name": "llama-3.1-405b-instruct", "quantization": "fp8"},
            "phistack:gpu": {"instance_type": "p5e.48xlarge", "root_volume_gb": 460, "data_volume_gb": 600},
        },
    )
    assert big["--tensor-parallel-size"] == "8" and "--quantization" not in big
    assert big["--served-model-name"] == "llama-3.1-405b-instruct"


def _env_file(text: str) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile reads them (quotes removed)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith(("#", "{")))
    return {k: v.strip("\"'") for k, v in pairs}


def test_on_aurora_the_outputs_wire_every_gateway_to_the_cluster_by_iam_token(planned: Any, monkeypatch: Any) -> None:
    """Config (multi-host, engine aurora) → stack outputs → `phistack inventory`'s variables → the gateway's and
    the sync service's environment → their settings: the cluster's endpoint, verify-full against the bundle's RDS
    CA, an IAM token per connection, no password anywhere; the migrations run once, as the owner's secret."""
    from infra.hosts.inventory import stack_vars
    from stack.dbauth import IamTokens
    from stack.settings import GatewaySettings, SyncSettings

    _, plan = planned("multi-host")
    host_vars = {k: v for k, v in stack_vars(plan.outputs).items() if k.startswith("rag_gateway_")}
    assert host_vars["rag_gateway_db_iam_auth"] is True and stack_vars(plan.outputs)["vector_store_enabled"] is False
    assert host_vars["rag_gateway_db_owner_secret"] == plan.outputs["aurora"]["owner_secret_arn"]
    gateway = _env_file(render("rag_gateway", "gateway.env.j2", **host_vars))
    sync = _env_file(render("rag_gateway", "sync.env.j2", **host_vars))
    for env, prefix in ((gateway, "PHISTACK_GATEWAY_"), (sync, "PHISTACK_SYNC_")):
        dsn = env[f"{prefix}DATABASE_DSN"]
        assert f"host={plan.outputs['aurora']['endpoint']} " in dsn and "passfile" not in dsn
        assert "sslmode=verify-full sslrootcert=/etc/phistack/tls/rds-ca.pem" in dsn
        assert env[f"{prefix}DATABASE_IAM_AUTH"] == "true"
        for name, value in env.items():
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("PHISTACK_GATEWAY_OIDC_JWKS_URL", "file:///etc/phistack/gateway/idp-jwks.json")
    settings = GatewaySettings(oidc_issuer="https://idp", oidc_audience="phistack")  # type: ignore[call-arg]
    assert settings.database_iam_auth and settings.database_region == plan.outputs["region"]
    assert SyncSettings().database_iam_auth  # type: ignore[call-arg]
    tokens = IamTokens(settings.database_dsn, settings.database_region)  # the DSN can carry tokens: no password
    assert tokens.host == plan.outputs["aurora"]["endpoint"] and tokens.user == "phistack_app"
    # The audit trail is anchored and shipped there too, as the audit reader by IAM token (--iam-auth).
    trail_vars = {k: v for k, v in stack_vars(plan.outputs).items() if k.startswith("log_shipping_")}
    anchor_cmd = render("log_shipping", "phistack-audit-anchor.service.j2", **trail_vars)
    ship_unit = render("log_shipping", "phistack-audit-ship.service.j2", **trail_vars)
    for unit in (anchor_cmd, ship_unit):
        line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
        assert f'--dsn "host={plan.outputs["aurora"]["endpoint"]} port=' in line
        assert "user=phistack_auditor sslmode=verify-full sslrootcert=/etc/phistack/tls/rds-ca.pem" in line
        assert f"--iam-auth --region {plan.outputs['region']}" in line
        dsn = line.split('--dsn "', 1)[1].split('"', 1)[0]
        assert IamTokens(dsn, plan.outputs["region"]).user == "phistack_auditor"
    assert "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" in ship_unit
    # The host engine keeps its local, password-file wiring.
    _, single = planned("example")
    local = _env_file(render("rag_gateway", "gateway.env.j2", **stack_vars(single.outputs)))
    assert "passfile=/etc/phistack/gateway/pgpass" in local["PHISTACK_GATEWAY_DATABASE_DSN"]
    assert "PHISTACK_GATEWAY_DATABASE_IAM_AUTH" not in local
    local_ship = render("log_shipping", "phistack-audit-ship.service.j2", **stack_vars(single.outputs))
    assert '--dsn "host=/var/run/postgresql dbname=phistack user=phistack_auditor" \\' in local_ship
    assert "--iam-auth" not in local_ship and "RestrictAddressFamilies=AF_UNIX\n" in local_ship


def test_the_host_engine_archives_to_its_own_bucket_under_the_data_key_and_aurora_has_none(planned: Any) -> None:
    """Config (engine host) → the db-archive bucket and the host role's rights on it → `phistack inventory`'s
    variables → the archive settings phistack-db-archive reads and the PostgreSQL drop-in that archives every WAL
    file. The host may delete what its retention expires but never a version (the bucket keeps those); Aurora
    stacks get no such bucket, no right and no variable."""
    import json

    from infra.hosts.inventory import stack_vars

    _, plan = planned("example")
    bucket = plan.outputs["buckets"]["db_archive"]
    host_policy = next(r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if "least-privilege" in r.name)
    policy = json.loads(host_policy.inputs["policy"])
    sids = {st["Sid"]: st for st in policy["Statement"]}
    assert sids["ArchiveDatabase"]["Action"] == ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    assert sids["ArchiveDatabase"]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert f"arn:aws:s3:::{bucket}" in sids["ListOwnBuckets"]["Resource"]
    assert not any("DeleteObjectVersion" in json.dumps(st["Action"]) for st in policy["Statement"])
    versioning = next(
        v for v in plan.of_type("aws:s3/bucketVersioning:BucketVersioning") if v.inputs["bucket"] == bucket
    )
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"

    host_vars = stack_vars(plan.outputs)
    assert host_vars["vector_store_archive_bucket"] == bucket
    assert host_vars["vector_store_archive_kms_key"] == plan.outputs["kms_key_arns"]["data"]
    settings = _env_file(render("vector_store", "archive.env.j2", vector_store_archive_server="i-0abc", **{
        "vector_store_version": 17, "vector_store_port": 5432, "vector_store_data_dir": "/data/postgresql",
        "vector_store_archive_services": ["phistack-gateway", "phistack-sync"], "vector_store_archive_endpoint_url": "",
        **{k: v for k, v in host_vars.items() if k.startswith("vector_store_archive_")}}))  # fmt: skip
    assert settings["ARCHIVE_URL"] == f"s3://{bucket}/postgresql" and settings["ARCHIVE_SERVER"] == "i-0abc"
    assert settings["ARCHIVE_KMS_KEY"] == plan.outputs["kms_key_arns"]["data"]
    assert settings["ARCHIVE_RETENTION_DAYS"] == "35" and settings["PG_DATA"] == "/data/postgresql/17/main"
    assert "ARCHIVE_ENDPOINT_URL" not in settings  # on AWS: the regional endpoint, through the S3 gateway endpoint
    conf = render("vector_store", "archive.conf.j2", vector_store_archive_timeout=60)
    assert "archive_mode = on" in conf and "archive_command = '/usr/local/sbin/phistack-db-archive wal-push %p'" in conf

    _, aurora = planned("aurora")
    assert "db_archive" not in aurora.outputs["buckets"] and aurora.outputs["db_archive"] is None
    assert not any(k.startswith("vector_store_archive_") for k in stack_vars(aurora.outputs))
    aurora_policy = next(r for r in aurora.of_type("aws:iam/rolePolicy:RolePolicy") if "least-privilege" in r.name)
    assert "ArchiveDatabase" not in aurora_policy.inputs["policy"]


def test_the_anchor_units_sign_the_head_on_a_timer_and_whenever_the_gateway_stops() -> None:
    """Issue 20: the same command on the timer and at the gateway's stop, as the read-only audit reader, with the
    key only that user reads; ordered so the stop anchor runs after the gateway and before PostgreSQL."""
    import shlex

    where = "s3://phistack-acme-audit-logs-111122223333/audit-anchors"
    settings = {
        "log_shipping_anchor_to": where,
        "log_shipping_anchor_host": "i-0abc",
        "log_shipping_region": "eu-west-1",
    }
    timed = render("log_shipping", "phistack-audit-anchor.service.j2", **settings)
    at_stop = render("log_shipping", "phistack-audit-anchor-at-stop.service.j2", **settings)
    restore = render("log_shipping", "phistack-audit-anchor-restore@.service.j2", **settings)
    command = shlex.split(timed.split("ExecStart=", 1)[1].splitlines()[0])
    assert command == shlex.split(at_stop.split("ExecStop=", 1)[1].splitlines()[0])
    # A restore is acknowledged with the same command, its reason the instance name (phistack-db-archive).
    assert shlex.split(restore.split("ExecStart=", 1)[1].splitlines()[0]) == [*command, "--restore", "%I"]
    assert command[:3] == ["/opt/phistack/gateway/venv/bin/phistack-gateway", "audit", "anchor"]
    pairs = dict(zip(command[3::2], command[4::2], strict=True))
    assert pairs == {
        "--dsn": "host=/var/run/postgresql dbname=phistack user=phistack_auditor",
        "--host": "i-0abc",
        "--key-file": "/etc/phistack/anchor/anchor-key.pem",
        "--to": where,
    }
    for unit in (timed, at_stop, restore):
        assert "User=phistack-auditor" in unit and "Environment=AWS_DEFAULT_REGION=eu-west-1" in unit
        assert "AWS_ENDPOINT_URL_S3" not in unit  # on AWS the S3 endpoint answers, the instance profile signs
    for line in ("Before=phistack-gateway.service", "PartOf=phistack-gateway.service",
                 "After=postgresql.service postgresql@17-main.service",
                 "RemainAfterExit=yes", "ExecStart=/bin/true"):  # fmt: skip
        assert line in at_stop, line
    timer = render("log_shipping", "phistack-audit-anchor.timer.j2")
    assert "OnUnitActiveSec=5min" in timer
    emulated = render("log_shipping", "phistack-audit-anchor.service.j2", **settings,
                      log_shipping_s3_endpoint_url="http://10.1.2.1:5000")  # fmt: skip
    assert "Environment=AWS_ENDPOINT_URL_S3=http://10.1.2.1:5000 AWS_ACCESS_KEY_ID=emulator" in emulated
