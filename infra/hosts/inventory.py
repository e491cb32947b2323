"""`phistack inventory`: the Ansible inventory of one client's stack, from its outputs (`pulumi stack output
--json`). Hosts come from the amazon.aws.aws_ec2 plugin, filtered on the stack's phistack:client tag, and are
reached through SSM (amazon.aws.aws_ssm: no SSH, no open port), moving files through the stack's SSM transfer
bucket. The artifacts role's bucket and region come along as group variables."""

from __future__ import annotations

from typing import Any

import yaml

from infra.errors import InfraError


class InventoryError(InfraError):
    """Stack outputs that lack what the inventory needs."""

    exit_code = 2


def _need(outputs: dict[str, Any], *path: str) -> str:
    value: Any = outputs
    for key in path:
        if not isinstance(value, dict) or key not in value or value[key] in (None, ""):
            raise InventoryError(f"stack outputs: no {'.'.join(path)} (is this the output of a phistack stack?).")
        value = value[key]
    return str(value)


def stack_vars(outputs: dict[str, Any]) -> dict[str, Any]:
    """What every host of the stack is told, from the stack's outputs: the bucket and CA coordinates, the log
    groups, and the engine as the client config asks (model.*, the instance type's GPUs). One path from the
    config to the roles: the aws_ec2 inventory composes these, and `phistack demo --host` gives them to its
    local host."""
    client, region = _need(outputs, "client"), _need(outputs, "region")
    served = _need(outputs, "llm", "served_name")  # the engine's name for the model, and the gateway's
    return {
        "artifacts_bucket": _need(outputs, "buckets", "artifacts"),
        "artifacts_region": region,
        "pki_client": client,
        "pki_bucket": _need(outputs, "buckets", "artifacts"),
        "pki_region": region,
        "log_shipping_region": region,
        "rag_gateway_aws_region": region,
        "rag_gateway_sync_bucket": _need(outputs, "buckets", "docs"),
        "rag_gateway_sync_queue_url": _need(outputs, "docs_events", "queue_url"),
        "rag_gateway_sync_dead_letter_queue_url": _need(outputs, "docs_events", "dead_letter_queue_url"),
        "log_shipping_anchor_to": _need(outputs, "audit_anchors"),
        "log_shipping_log_groups": {
            k: _need(outputs, "log_groups", k) for k in ("hosts_journald", "hosts_auditd", "gateway_audit")
        },
        "vector_store_enabled": outputs.get("vector_store", "host") == "host",
        "llm_server_served_name": served,
        "rag_gateway_llm_model": served,
        "llm_server_quantization": str(outputs["llm"].get("quantization") or ""),
        "llm_server_max_model_len": int(_need(outputs, "llm", "max_model_len")),
        "llm_server_tensor_parallel": int(_need(outputs, "llm", "tensor_parallel_size")),
        **database_vars(outputs),
        **archive_vars(outputs),
    }


def archive_vars(outputs: dict[str, Any]) -> dict[str, Any]:
    """The host engine: continuous WAL archiving and base backups to the stack's db-archive bucket, under the data
    key, kept for the backup retention. Aurora keeps its own: nothing here."""
    if not outputs.get("db_archive"):  # only a host-engine stack has one
        return {}
    return {
        "vector_store_archive_bucket": _need(outputs, "db_archive", "bucket"),
        "vector_store_archive_kms_key": _need(outputs, "db_archive", "kms_key_arn"),
        "vector_store_archive_region": _need(outputs, "region"),
        "vector_store_archive_retention_days": int(_need(outputs, "db_archive", "retention_days")),
    }


def database_vars(outputs: dict[str, Any]) -> dict[str, Any]:
    """Aurora (several hosts share it): each gateway logs in with IAM tokens and runs the migrations once, as the
    owner from the cluster's managed secret. The host engine needs nothing here: the role's defaults are local."""
    if outputs.get("vector_store", "host") != "aurora":
        return {}
    return {
        "rag_gateway_db_host": _need(outputs, "aurora", "endpoint"),
        "rag_gateway_db_port": int(_need(outputs, "aurora", "port")),
        "rag_gateway_db_iam_auth": True,
        "rag_gateway_db_owner_secret": _need(outputs, "aurora", "owner_secret_arn"),
        # The audit trail is anchored, shipped and checked there too, as phistack_auditor by IAM token.
        "log_shipping_db_host": _need(outputs, "aurora", "endpoint"),
        "log_shipping_db_port": int(_need(outputs, "aurora", "port")),
    }


def render(outputs: dict[str, Any], endpoint_url: str | None = None) -> str:
    client, region = _need(outputs, "client"), _need(outputs, "region")
    transfer = _need(outputs, "buckets", "ssm_transfer")
    config: dict[str, Any] = {
        "plugin": "amazon.aws.aws_ec2",
        "regions": [region],
        "filters": {"tag:phistack:client": client, "instance-state-name": "running"},
        "hostnames": ["instance-id"],
        "keyed_groups": [{"key": 'tags["phistack:role"]', "prefix": "phistack", "separator": "_"}],
        "groups": {"phistack": "true"},
        "compose": {
            "ansible_connection": "'amazon.aws.aws_ssm'",
            "ansible_aws_ssm_instance_id": "instance_id",
            "ansible_aws_ssm_region": repr(region),
            "ansible_aws_ssm_bucket_name": repr(transfer),
            # Constants for every host (compose takes Jinja expressions: a constant is its Python literal).
            **{name: repr(value) for name, value in stack_vars(outputs).items()},
            # Each host's encrypted data volume, as EC2 reports it attached (gpu_hosts attaches it at /dev/sdf).
            "base_data_volume_id": (
                "(block_device_mappings | selectattr('device_name', 'equalto', '/dev/sdf')"
                " | map(attribute='ebs.volume_id') | first) | default('')"
            ),
        },
    }
    if endpoint_url:
        config["endpoint_url"] = endpoint_url
    header = f"# The {client} stack's hosts, through SSM. Generated by `phistack inventory`; regenerate, do not edit.\n"
    return header + yaml.safe_dump(config, sort_keys=False)
