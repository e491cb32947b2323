"""The client configuration: parsed once, validated before any resource is declared.

Values reach us the way Pulumi hands them to a program: every top-level value is a string, objects and
lists are JSON text. ``parse_client_config`` accepts that form (and native YAML values, which a stack
file read by ``infra.stackfile`` is normalized to the same form) and returns a frozen ``ClientConfig``.
Every problem becomes one sentence naming the key and the value seen; nothing else is raised.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from contract import INTERFACE_ENDPOINTS, SIX_YEARS_DAYS, StackContext
from infra.catalog import DATA_VOLUME_HEADROOM_GB, GPU_TYPES, MODELS, ROOT_VOLUME_HEADROOM_GB, fits, types_that_fit
from infra.config_sections import (
    ACM_ARN,
    CLOUDWATCH_RETENTION_DAYS,
    EMAIL,
    NAMESPACE,
    REGION_KEY,
    REGION_PATTERN,
    ROLE_ARN,
    SLUG,
    AccessConfig,
    Attestations,
    GpuConfig,
    Guardrails,
    ModelConfig,
    Section,
    VectorStoreConfig,
    known_regions,
    matching,
    nearest_region,
    private_network,
    problem,
)
from infra.errors import ConfigError


class ClientConfig(Section):
    """One healthcare client's deployment. Keys live under ``phistack:`` in ``Pulumi.<client>.yaml``."""

    client: str = Field(description="Client slug: 3-24 lowercase letters, digits and dashes; names every resource.")
    account_id: str = Field(description="The client's 12-digit AWS account id; the program refuses any other.")
    region: str = Field(description="AWS region, read from aws:region.")
    vpc_cidr: str = Field(description="Private IPv4 range for the VPC, /16 to /24.")
    az_count: int = Field(2, ge=2, le=6, description="Availability zones to spread subnets and hosts over.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="See phistack:model.* below.")
    gpu: GpuConfig = Field(description="See phistack:gpu.* below.")
    vector_store: VectorStoreConfig = Field(default_factory=VectorStoreConfig, description="See below.")
    log_retention_days: int | Literal["never"] = Field(
        SIX_YEARS_DAYS, description="CloudWatch Logs retention: a CloudWatch value in days, or never."
    )
    audit_log_lock_days: int = Field(
        SIX_YEARS_DAYS, ge=1, le=36500, description="Object Lock (COMPLIANCE) days on the audit-log archive."
    )
    admin_role_arns: list[str] = Field(min_length=1, description="IAM roles that administer the stack's KMS keys.")
    access: AccessConfig = Field(default_factory=AccessConfig, description="See phistack:access.* below.")
    gateway_port: int = Field(8443, ge=1024, le=65535, description="TLS port the RAG gateway listens on.")
    gateway_certificate_arn: str | None = Field(
        None, description="ACM certificate for the internal NLB; required when gpu.count > 1."
    )
    alarm_emails: list[str] = Field(default_factory=list, description="Addresses subscribed to security alarms.")
    guardrails: Guardrails = Field(default_factory=Guardrails, description="See phistack:guardrails.* below.")
    attestations: Attestations = Field(default_factory=Attestations, description="See below.")
    extra_endpoints: list[Literal["ecr.api", "ecr.dkr", "secretsmanager"]] = Field(
        default_factory=list, description="Interface endpoints beyond the required eight."
    )
    allow_internet_egress: bool = Field(
        False, description="OPT-OUT: add a public subnet, IGW and NAT. Compliance controls FAIL on it."
    )
    allow_short_log_retention: bool = Field(
        False, description="OPT-OUT: permit log retention under six years. A control flags it."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every resource.")

    _client = field_validator("client")(matching(SLUG, "a slug of 3-24 lowercase letters, digits and dashes"))
    _account = field_validator("account_id")(matching(re.compile(r"^\d{12}$"), "a 12-digit AWS account id"))
    _region_form = field_validator("region")(matching(REGION_PATTERN, "an AWS region name such as us-east-1"))

    @field_validator("region")
    @classmethod
    def _region_known(cls, value: str) -> str:
        if value not in known_regions():
            near = nearest_region(value)
            raise problem("region", f"is not an AWS region{f' (did you mean {near}?)' if near else ''}")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, value: str) -> str:
        return str(private_network(value, smallest=24, largest=16))

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int | str) -> int | str:
        if value != "never" and value not in CLOUDWATCH_RETENTION_DAYS:
            allowed = ", ".join(map(str, CLOUDWATCH_RETENTION_DAYS))
            raise problem("retention", f"is not a CloudWatch Logs retention value (days: {allowed}, or never)")
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _roles(cls, values: list[str]) -> list[str]:
        for v in values:
            if not ROLE_ARN.fullmatch(v):
                raise problem("role", f"{v!r} is not an IAM role ARN")
        return values

    @field_validator("gateway_certificate_arn")
    @classmethod
    def _cert(cls, value: str | None) -> str | None:
        return None if value is None else matching(ACM_ARN, "an ACM certificate ARN")(value)

    @field_validator("alarm_emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for v in values:
            if not EMAIL.fullmatch(v):
                raise problem("email", f"{v!r} is not an email address")
        return values

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: dict[str, str]) -> dict[str, str]:
        for k in values:
            if k.startswith("aws:") or k.startswith("phistack:") or k in ("data-classification", "compliance-scope"):
                raise problem("tag", f"{k!r} is reserved (aws:*, phistack:*, data-classification, compliance-scope)")
        return values

    @property
    def partition(self) -> str:
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.vpc_cidr)

    @property
    def subnet_prefix(self) -> int:
        """Two private tiers (app, data) per AZ (plus one public subnet under allow_internet_egress),
        each subnet an equal slice of the VPC."""
        # Worst case allowed by the bounds: a /24 over 6 AZs with the opt-out: 13 subnets -> /28, AWS's minimum.
        subnets = 2 * self.az_count + (1 if self.allow_internet_egress else 0)
        return self.network.prefixlen + (subnets - 1).bit_length()

    @property
    def retention_days(self) -> int | None:
        """Retention for CloudWatch (None = never expire)."""
        return None if self.log_retention_days == "never" else int(self.log_retention_days)

    @property
    def interface_endpoints(self) -> tuple[str, ...]:
        """The required eight, the configured extras, and secretsmanager when Aurora keeps its password there."""
        wanted = [*INTERFACE_ENDPOINTS, *self.extra_endpoints]
        if self.vector_store.engine == "aurora":
            wanted.append("secretsmanager")
        return tuple(dict.fromkeys(wanted))

    def context(self) -> StackContext:
        """What the controls compare an account against; written into plan.json, read by compliance as data."""
        return StackContext(
            client=self.client,
            log_retention_days=self.retention_days,
            allow_short_log_retention=self.allow_short_log_retention,
            required_endpoints=[*INTERFACE_ENDPOINTS, *self.extra_endpoints],
            attestations={k: (v.isoformat() if v else None) for k, v in self.attestations.model_dump().items()},
        )

    @property
    def gpu_type(self) -> Any:
        return GPU_TYPES[self.gpu.instance_type]

    @model_validator(mode="after")
    def _cross_checks(self) -> ClientConfig:
        model = MODELS[self.model.name]
        if not fits(self.gpu_type, model, self.model.quantization, self.model.max_model_len):
            need = model.needed_gb(self.model.quantization, self.model.max_model_len)
            fitting = types_that_fit(model, self.model.quantization, self.model.max_model_len)
            raise problem(
                "gpu_fit",
                f"has {self.gpu_type.usable_gb:.0f} GB usable GPU memory but {model.name} "
                f"({self.model.quantization}, {self.model.max_model_len} tokens) needs {need:.0f} GB; "
                f"types that can hold it: {', '.join(fitting[:8]) or 'none'}",
                key="phistack:gpu.instance_type",
                seen=self.gpu.instance_type,
            )
        weights = model.weights_gb(self.model.quantization)
        for volume, headroom in (("root", ROOT_VOLUME_HEADROOM_GB), ("data", DATA_VOLUME_HEADROOM_GB)):
            size = getattr(self.gpu, f"{volume}_volume_gb")
            if size < weights + headroom:
                raise problem(
                    "volume_fit",
                    f"is {size} GB, but {model.name}'s {self.model.quantization} weights are {weights:.0f} GB and "
                    f"the {volume} volume needs {headroom} GB beside them: set at least {weights + headroom:.0f}",
                    key=f"phistack:gpu.{volume}_volume_gb",
                    seen=size,
                )
        retention = self.retention_days
        if retention is not None and retention < SIX_YEARS_DAYS and not self.allow_short_log_retention:
            raise problem(
                "retention_short",
                f"is under six years ({SIX_YEARS_DAYS} days, 164.316(b)(2)(i)); set "
                "phistack:allow_short_log_retention: true to accept that, and a control will flag it",
                key="phistack:log_retention_days",
                seen=retention,
            )
        if self.gpu.count > 1 and self.gateway_certificate_arn is None:
            raise problem(
                "nlb_cert",
                f"is not set, and gpu.count is {self.gpu.count}: the internal TLS load balancer needs a certificate",
                key="phistack:gateway_certificate_arn",
                seen=None,
            )
        if self.gpu.count > 1 and self.vector_store.engine == "host":
            raise problem(
                "shared_store",
                f"cannot serve gpu.count {self.gpu.count}: each host would keep its own knowledge base and audit "
                "trail; set vector_store.engine: aurora so the hosts share one",
                key="phistack:vector_store.engine",
                seen="host",
            )
        access_networks = [("phistack:access.client_cidrs", c) for c in self.access.client_cidrs]
        if self.access.client_vpn:
            access_networks.append(("phistack:access.client_vpn.client_cidr", self.access.client_vpn.client_cidr))
        for key, cidr in access_networks:
            if ipaddress.IPv4Network(cidr).overlaps(self.network):
                raise problem("overlap", f"overlaps vpc_cidr {self.vpc_cidr}", key=key, seen=cidr)
        return self


# ---------------------------------------------------------------------------------------------------------
# Parsing: raw Pulumi config → ClientConfig, or one ConfigError listing every problem.

_FIELD_KEYS = {name: (REGION_KEY if name == "region" else f"{NAMESPACE}:{name}") for name in ClientConfig.model_fields}


def _decode(value: Any) -> Any:
    """Pulumi passes objects and lists as JSON text; decode those, leave scalars for pydantic to coerce."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_of(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return f"{NAMESPACE}:<config>"
    head, *rest = loc
    key = _FIELD_KEYS.get(str(head), f"{NAMESPACE}:{head}")
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def _sentence(err: Mapping[str, Any]) -> str:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    kind = err["type"]
    if kind == "missing":
        return f"{_key_of(loc)} is required but not set."
    if kind == "extra_forbidden":
        parent_fields = _fields_at(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), parent_fields, n=1)
        tip = f" (did you mean {hint[0]}?)" if hint else f" (known: {', '.join(parent_fields)})"
        return f"{_key_of(loc)} is not a known setting{tip}."
    msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    msg = re.sub(r"a valid dictionary or instance of \w+", "a mapping of settings", msg)
    ctx = err.get("ctx") or {}
    key, seen = (ctx["key"], ctx["seen"]) if "key" in ctx else (_key_of(loc), err.get("input"))
    if seen is None or isinstance(seen, dict | list):
        return f"{key} {msg}." if msg.startswith("is ") else f"{key}: {msg}."
    return f"{key} = {seen!r}: {msg}."


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    model: Any = ClientConfig
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[str(part)].annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        model = next((c for c in candidates if issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def parse_client_config(values: Mapping[str, Any], source: str) -> ClientConfig:
    """Validate a whole namespaced Pulumi config (``{"aws:region": ..., "phistack:gpu": ...}``)."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    known = set(ClientConfig.model_fields) - {"region"}
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if key == REGION_KEY:
            data["region"] = _decode(value)
        elif namespace == NAMESPACE:
            if name not in known:
                hint = difflib.get_close_matches(name, sorted(known), n=1)
                tip = f" (did you mean {NAMESPACE}:{hint[0]}?)" if hint else ""
                problems.append(f"{key} is not a known setting{tip}.")
            else:
                data[name] = _decode(value)
    if problems:
        raise ConfigError(source, problems)
    try:
        return ClientConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_sentence(e) for e in exc.errors(include_url=False)]) from None
