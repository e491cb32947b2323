"""The phistack Pulumi program: one client config in, every component declared, stack outputs out.

``build`` is called by ``infra/__main__.py`` under ``pulumi up`` and by ``infra.plan`` under mocks: the
same code path either way. It declares resources only; it never creates one inside ``apply``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime.config import CONFIG, get_config_env

from infra import naming
from infra.catalog import VLLM_QUANTIZATION
from infra.components.access import Access, AccessArgs
from infra.components.audit_logging import AuditLogging, AuditLoggingArgs
from infra.components.backups import HostBackups, HostBackupsArgs
from infra.components.doc_events import DocumentEvents, DocumentEventsArgs
from infra.components.endpoints import Endpoints, EndpointsArgs
from infra.components.gpu_hosts import GpuHosts, GpuHostsArgs
from infra.components.guardrails import AccountGuardrails, GuardrailsArgs
from infra.components.keys import Keys, KeysArgs
from infra.components.network import PrivateNetwork, PrivateNetworkArgs
from infra.components.storage import Storage, StorageArgs
from infra.components.vector_db import POSTGRES_PORT, VectorDatabase, VectorDatabaseArgs
from infra.config import ClientConfig


def stack_config() -> dict[str, Any]:
    """Every config value Pulumi gave this program, namespaced (``phistack:gpu``, ``aws:region``)."""
    merged: dict[str, Any] = dict(get_config_env())
    merged.update(CONFIG.get())
    return merged


def build(cfg: ClientConfig) -> dict[str, Any]:
    """Declare the whole stack for one client and return its outputs (what Ansible and auditors read)."""
    provider = aws.Provider(
        f"{cfg.client}-aws",
        region=cfg.region,
        # Refuse to run against any account but the client's, whatever credentials are in the shell.
        allowed_account_ids=[cfg.account_id],
    )
    opts = pulumi.ResourceOptions(providers=[provider])
    c = cfg.client

    keys = Keys(f"{c}-keys", KeysArgs(cfg), opts)
    network = PrivateNetwork(f"{c}-network", PrivateNetworkArgs(cfg, keys.logs_key_arn), opts)
    audit = AuditLogging(f"{c}-audit", AuditLoggingArgs(cfg, keys.logs_key_arn), opts)
    storage = Storage(f"{c}-storage", StorageArgs(cfg, keys.data_key_arn, audit.access_log_bucket), opts)
    events = DocumentEvents(
        f"{c}-doc-events",
        DocumentEventsArgs(cfg, keys.data_key_arn, storage.docs_bucket, storage.docs_bucket_arn),
        opts,
    )
    endpoints = Endpoints(
        f"{c}-endpoints",
        EndpointsArgs(
            cfg,
            network.vpc_id,
            network.app_subnet_ids,
            network.route_table_ids,
            [
                storage.docs_bucket_arn,
                storage.artifact_bucket_arn,
                storage.transfer_bucket_arn,
                *([storage.db_archive_bucket_arn] if storage.db_archive_bucket_arn is not None else []),
                audit.archive_bucket_arn,  # the gateway hosts' audit-chain anchors
            ],
        ),
        opts,
    )
    access = Access(
        f"{c}-access",
        AccessArgs(cfg, network.vpc_id, network.app_subnet_ids, network.route_table_ids, keys.logs_key_arn),
        opts,
    )
    hosts = GpuHosts(
        f"{c}-gpu",
        GpuHostsArgs(
            cfg,
            network.vpc_id,
            network.app_subnet_ids,
            endpoints.s3_prefix_list_id,
            keys.data_key_arn,
            keys.logs_key_arn,
            keys.ebs_key_arn,
            storage.artifact_bucket_arn,
            storage.docs_bucket_arn,
            storage.transfer_bucket_arn,
            (events.queue_arn, events.dead_letter_queue_arn),
            access.source_cidrs,
            access.source_security_group_id,
            storage.db_archive_bucket_arn,
            audit.access_log_bucket,
            audit.archive_bucket_arn,
        ),
        opts,
    )
    database = None
    if cfg.vector_store.engine == "aurora":
        database = VectorDatabase(
            f"{c}-vector-db",
            VectorDatabaseArgs(
                cfg,
                network.vpc_id,
                network.data_subnet_ids,
                network.zones,
                keys.data_key_arn,
                keys.logs_key_arn,
                hosts.security_group_id,
                hosts.role_name,
            ),
            opts,
        )
    backups = HostBackups(f"{c}-backups", HostBackupsArgs(cfg, keys.data_key_arn), opts)
    guardrails = AccountGuardrails(
        f"{c}-guardrails", GuardrailsArgs(cfg, keys.ebs_key_arn, audit.archive_bucket, keys.logs_key_arn), opts
    )

    return {
        "client": cfg.client,
        "account_id": cfg.account_id,
        "region": cfg.region,
        "model": cfg.model.name,
        # How the engine serves it, for the llm_server role (through `phistack inventory`): one path from the config.
        "llm": {
            "served_name": cfg.model.name,
            "quantization": VLLM_QUANTIZATION[cfg.model.quantization],
            "max_model_len": cfg.model.max_model_len,
            "tensor_parallel_size": cfg.gpu_type.gpus,
        },
        "vpc_id": network.vpc_id,
        "app_subnet_ids": network.app_subnet_ids,
        "data_subnet_ids": network.data_subnet_ids,
        "gpu_instance_ids": hosts.instance_ids,
        "gpu_private_ips": hosts.private_ips,
        "gpu_role_arn": hosts.role_arn,
        "gpu_security_group_id": hosts.security_group_id,
        "gateway_port": cfg.gateway_port,
        "gateway_load_balancer_dns": hosts.load_balancer_dns,
        "access_mode": cfg.access.mode,
        "transit_gateway_attachment_id": access.attachment_id,
        "client_vpn_endpoint_id": access.client_vpn_endpoint_id,
        "kms_key_arns": {"data": keys.data_key_arn, "logs": keys.logs_key_arn, "ebs": keys.ebs_key_arn},
        "buckets": {
            "docs": storage.docs_bucket,
            "artifacts": storage.artifact_bucket,
            "ssm_transfer": storage.transfer_bucket,
            "audit_logs": audit.archive_bucket,
            "access_logs": audit.access_log_bucket,
            **({"db_archive": storage.db_archive_bucket} if storage.db_archive_bucket is not None else {}),
        },
        # Where the gateway hosts anchor the audit chain (phistack-gateway audit anchor --to ...).
        "audit_anchors": pulumi.Output.concat("s3://", audit.archive_bucket, f"/{naming.ANCHOR_PREFIX}"),
        # The host engine's continuous archive (through `phistack inventory`, for the vector_store role).
        "db_archive": (
            {
                "bucket": storage.db_archive_bucket,
                "kms_key_arn": keys.data_key_arn,
                "retention_days": cfg.vector_store.backup_retention_days,
            }
            if storage.db_archive_bucket is not None
            else None
        ),
        # The rag_gateway role's sync service consumes these (through `phistack inventory`).
        "docs_events": {"queue_url": events.queue_url, "dead_letter_queue_url": events.dead_letter_queue_url},
        "vpc_endpoint_ids": {"s3": endpoints.s3_endpoint_id, **endpoints.interface_endpoint_ids},
        "log_groups": {
            "cloudtrail": audit.trail_log_group,
            "vpc_flow_logs": network.flow_log_group,
            "ssm_sessions": audit.session_log_group,
            **{k.replace("/", "_"): v for k, v in hosts.log_groups.items()},
        },
        "trail_arn": audit.trail_arn,
        "alarm_topic_arn": audit.alarm_topic_arn,
        "vector_store": cfg.vector_store.engine,
        "aurora_endpoint": database.endpoint if database else None,
        "aurora_cluster_arn": database.cluster_arn if database else None,
        # The gateways' wiring to Aurora (through `phistack inventory`): where, and the owner's secret for migrations.
        "aurora": (
            {"endpoint": database.endpoint, "port": POSTGRES_PORT, "owner_secret_arn": database.owner_secret_arn}
            if database
            else None
        ),
        "backups": {"vault_arn": backups.vault_arn, "plan_id": backups.plan_id},
        "guardduty_detector_id": guardrails.guardduty_detector_id,
        "attestations": json.loads(cfg.attestations.model_dump_json()),
        "tags": naming.tags(cfg, "stack"),
    }


def export_all(outputs: Mapping[str, Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)
