"""The client configuration: parsed once, validated before any resource is declared.

Values reach us the way Pulumi hands them to a program: every top-level value is a string, objects and
lists are JSON text. ``parse_client_config`` accepts that form (and native YAML values, which a stack
file read by ``infra.stackfile`` is normalized to the same form) and returns a frozen ``ClientConfig``.
Every problem becomes one sentence naming the key and the value seen; nothing else is raised.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from contract import INTERFACE_ENDPOINTS, SIX_YEARS_DAYS, StackContext
from infra.catalog import GPU_TYPES, MODELS, ModelName, Quantization, fits, types_that_fit
from infra.errors import ConfigError

NAMESPACE = "phistack"
REGION_KEY = "aws:region"

CLOUDWATCH_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
OPTIONAL_ENDPOINTS = ("ecr.api", "ecr.dkr", "secretsmanager")
# The Debian cloud team's public parameter for the latest official Debian 13 amd64 AMI: the only OS the installer
# (playbooks/) supports, and the one whose packages the offline bundle holds.
DEBIAN_13_PARAMETER = "/aws/service/debian/release/13/latest/amd64"

_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ROLE_ARN = re.compile(r"^arn:aws(-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_ACM_ARN = re.compile(r"^arn:aws(-us-gov)?:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_SAML_ARN = re.compile(r"^arn:aws(-us-gov)?:iam::\d{12}:saml-provider/[\w+=,.@-]{1,128}$")
_TGW_ID = re.compile(r"^tgw-[0-9a-f]{8,17}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


def _problem(kind: str, message: str, key: str | None = None, seen: Any = None) -> PydanticCustomError:
    """A finished sentence (no templating). ``key`` names the setting when the check spans several."""
    ctx: dict[str, Any] = {} if key is None else {"key": key, "seen": seen}
    return PydanticCustomError(kind, message.replace("{", "(").replace("}", ")"), ctx)


@functools.cache
def known_regions() -> frozenset[str]:
    """The regions of the commercial and GovCloud partitions, as the installed botocore knows them (offline)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region for partition in ("aws", "aws-us-gov") for region in session.get_available_regions("ec2", partition)
    )


def _private_network(value: Any, smallest: int = 28, largest: int = 8) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError:
        raise _problem("cidr", "is not an IPv4 network in CIDR form such as 10.40.0.0/16") from None
    if not any(net.subnet_of(r) for r in PRIVATE_RANGES):
        raise _problem("cidr_public", "is not inside a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)")
    if not largest <= net.prefixlen <= smallest:
        raise _problem("cidr_size", f"must be between /{largest} and /{smallest}")
    return net


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise _problem("format", f"is not {what}")
        return value

    return check


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        """`count: true` is a mistake, not 1: pydantic would take a bool for a number."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if field is not None and isinstance(value, bool) and field.annotation in (int, float, int | None):
                    raise _problem("type", f"{name} is {str(value).lower()}, not a number")
        return data


class ModelConfig(_Section):
    """Which Llama 3.1 model vLLM serves."""

    name: ModelName = Field("llama-3.1-8b-instruct", description="Llama 3.1 Instruct model size.")
    quantization: Quantization = Field("none", description="Weights format: none (bf16), fp8 or awq-int4.")
    max_model_len: int = Field(8192, ge=2048, le=131072, description="Longest context vLLM accepts (tokens).")


class GpuConfig(_Section):
    """The GPU hosts that run vLLM, the gateway and (by default) PostgreSQL."""

    instance_type: str = Field(description="A g5, g6, g6e, p4d, p4de or p5 type that can hold the model.")
    count: int = Field(1, ge=1, le=16, description="Number of hosts; more than one puts an internal TLS NLB in front.")
    root_volume_gb: int = Field(200, ge=100, le=4096, description="Root volume size (CMK-encrypted gp3).")
    data_volume_gb: int = Field(500, ge=100, le=16384, description="Data volume for weights and PostgreSQL.")
    ami_ssm_parameter: str = Field(
        DEBIAN_13_PARAMETER, description="SSM parameter holding the Debian 13 amd64 AMI id (the installer's only OS)."
    )

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in GPU_TYPES:
            families = sorted({t.split(".")[0] for t in GPU_TYPES})
            raise _problem("gpu_type", f"is not a supported GPU instance type (families: {', '.join(families)})")
        return value

    @field_validator("ami_ssm_parameter")
    @classmethod
    def _ssm_path(cls, value: str) -> str:
        if not value.startswith("/aws/service/") and not value.startswith("/"):
            raise _problem("ssm_path", "is not an SSM parameter path (it must start with /)")
        return value


class VectorStoreConfig(_Section):
    """Where the embeddings live."""

    engine: Literal["host", "aurora"] = Field(
        "host", description="host: PostgreSQL + pgvector on the GPU host's encrypted volume; aurora: Aurora PostgreSQL."
    )
    aurora_engine_version: str = Field("16.6", description="Aurora PostgreSQL version (pgvector ships with it).")
    aurora_min_acu: float = Field(0.5, ge=0.5, le=256, description="Aurora Serverless v2 minimum capacity.")
    aurora_max_acu: float = Field(8, ge=1, le=256, description="Aurora Serverless v2 maximum capacity.")
    backup_retention_days: int = Field(35, ge=7, le=35, description="Automated backup retention (days).")

    @model_validator(mode="after")
    def _capacity_order(self) -> VectorStoreConfig:
        if self.aurora_min_acu > self.aurora_max_acu:
            raise _problem(
                "acu",
                f"is above aurora_max_acu ({self.aurora_max_acu:g})",
                key="phistack:vector_store.aurora_min_acu",
                seen=self.aurora_min_acu,
            )
        return self


class ClientVpnConfig(_Section):
    """AWS Client VPN endpoint, federated to the client's IdP (client-vpn mode)."""

    server_certificate_arn: Annotated[str, Field(description="ACM certificate of the VPN endpoint.")]
    saml_provider_arn: Annotated[str, Field(description="IAM SAML provider of the client's IdP.")]
    client_cidr: Annotated[str, Field(description="Private /12 to /22 range handed to VPN clients.")]

    _acm = field_validator("server_certificate_arn")(_matching(_ACM_ARN, "an ACM certificate ARN"))
    _saml = field_validator("saml_provider_arn")(_matching(_SAML_ARN, "an IAM SAML provider ARN"))

    @field_validator("client_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(_private_network(value, smallest=22, largest=12))


class AccessConfig(_Section):
    """How staff reach the gateway privately. There is no public endpoint, whatever the mode."""

    mode: Literal["ssm-port-forwarding", "transit-gateway", "client-vpn"] = Field(
        "ssm-port-forwarding", description="ssm-port-forwarding, transit-gateway or client-vpn."
    )
    transit_gateway_id: str | None = Field(None, description="transit-gateway mode: the client's TGW id.")
    client_cidrs: list[str] = Field(
        default_factory=list, description="transit-gateway mode: private networks allowed to reach the gateway."
    )
    client_vpn: ClientVpnConfig | None = Field(None, description="client-vpn mode: endpoint settings.")

    _tgw = field_validator("transit_gateway_id")(
        lambda v: None if v is None else _matching(_TGW_ID, "a transit gateway id (tgw-...)")(v)
    )

    @field_validator("client_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        networks = [str(_private_network(v, smallest=32, largest=8)) for v in values]
        repeated = sorted({n for n in networks if networks.count(n) > 1})
        if repeated:
            raise _problem("duplicate", f"lists {', '.join(repeated)} more than once")
        return networks

    @model_validator(mode="after")
    def _mode_fields(self) -> AccessConfig:
        wants = {
            "transit-gateway": {"transit_gateway_id", "client_cidrs"},
            "client-vpn": {"client_vpn"},
            "ssm-port-forwarding": set(),
        }[self.mode]
        given = {k for k in ("transit_gateway_id", "client_cidrs", "client_vpn") if getattr(self, k)}
        if missing := sorted(wants - given):
            raise _problem(
                "access", f"mode {self.mode} needs {', '.join(missing)}", key="phistack:access.mode", seen=self.mode
            )
        if extra := sorted(given - wants):
            raise _problem(
                "access", f"{', '.join(extra)} does not apply to this mode", key="phistack:access.mode", seen=self.mode
            )
        return self


class Guardrails(_Section):
    """Account-wide singletons. Turn one off only where the account already manages it elsewhere."""

    ebs_encryption_by_default: bool = Field(True, description="EBS encryption by default, with the EBS CMK.")
    s3_account_public_access_block: bool = Field(True, description="The account-level S3 public access block.")
    imds_defaults: bool = Field(True, description="Account IMDS defaults: IMDSv2 required, hop limit 1.")
    config_recorder: bool = Field(True, description="An AWS Config recorder and delivery channel.")
    guardduty: bool = Field(True, description="A GuardDuty detector with S3 and EBS malware protection.")
    session_manager_preferences: bool = Field(True, description="The region's Session Manager preferences.")


class Attestations(_Section):
    """What no API can show, attested by the client. Each feeds a manual compliance control."""

    baa_aws_signed: dt.date | None = Field(None, description="Date the client's BAA with AWS was accepted.")
    baa_client_signed: dt.date | None = Field(None, description="Date the operator's BAA with the client was signed.")
    risk_analysis_completed: dt.date | None = Field(None, description="Date of the last risk analysis.")
    workforce_training_completed: dt.date | None = Field(None, description="Date of the last security training.")
    contingency_plan_tested: dt.date | None = Field(None, description="Date the contingency plan was last tested.")

    @field_validator("*")
    @classmethod
    def _not_future(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value > dt.date.today():
            raise _problem("future", "is in the future")
        return value


class ClientConfig(_Section):
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

    _client = field_validator("client")(_matching(_SLUG, "a slug of 3-24 lowercase letters, digits and dashes"))
    _account = field_validator("account_id")(_matching(re.compile(r"^\d{12}$"), "a 12-digit AWS account id"))
    _region_form = field_validator("region")(_matching(_REGION, "an AWS region name such as us-east-1"))

    @field_validator("region")
    @classmethod
    def _region_known(cls, value: str) -> str:
        known = known_regions()
        if value not in known:
            swapped = [r for r in sorted(known) if sorted(r) == sorted(value)]  # transposed letters: us-esat-1
            near = swapped or difflib.get_close_matches(value, sorted(known), n=1)
            raise _problem("region", f"is not an AWS region{f' (did you mean {near[0]}?)' if near else ''}")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, value: str) -> str:
        return str(_private_network(value, smallest=24, largest=16))

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int | str) -> int | str:
        if value != "never" and value not in CLOUDWATCH_RETENTION_DAYS:
            allowed = ", ".join(map(str, CLOUDWATCH_RETENTION_DAYS))
            raise _problem("retention", f"is not a CloudWatch Logs retention value (days: {allowed}, or never)")
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _roles(cls, values: list[str]) -> list[str]:
        for v in values:
            if not _ROLE_ARN.fullmatch(v):
                raise _problem("role", f"{v!r} is not an IAM role ARN")
        return values

    @field_validator("gateway_certificate_arn")
    @classmethod
    def _cert(cls, value: str | None) -> str | None:
        return None if value is None else _matching(_ACM_ARN, "an ACM certificate ARN")(value)

    @field_validator("alarm_emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for v in values:
            if not _EMAIL.fullmatch(v):
                raise _problem("email", f"{v!r} is not an email address")
        return values

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: dict[str, str]) -> dict[str, str]:
        for k in values:
            if k.startswith("aws:") or k.startswith("phistack:") or k in ("data-classification", "compliance-scope"):
                raise _problem("tag", f"{k!r} is reserved (aws:*, phistack:*, data-classification, compliance-scope)")
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
            raise _problem(
                "gpu_fit",
                f"has {self.gpu_type.usable_gb:.0f} GB usable GPU memory but {model.name} "
                f"({self.model.quantization}, {self.model.max_model_len} tokens) needs {need:.0f} GB; "
                f"types that can hold it: {', '.join(fitting[:8]) or 'none'}",
                key="phistack:gpu.instance_type",
                seen=self.gpu.instance_type,
            )
        retention = self.retention_days
        if retention is not None and retention < SIX_YEARS_DAYS and not self.allow_short_log_retention:
            raise _problem(
                "retention_short",
                f"is under six years ({SIX_YEARS_DAYS} days, 164.316(b)(2)(i)); set "
                "phistack:allow_short_log_retention: true to accept that, and a control will flag it",
                key="phistack:log_retention_days",
                seen=retention,
            )
        if self.gpu.count > 1 and self.gateway_certificate_arn is None:
            raise _problem(
                "nlb_cert",
                f"is not set, and gpu.count is {self.gpu.count}: the internal TLS load balancer needs a certificate",
                key="phistack:gateway_certificate_arn",
                seen=None,
            )
        access_networks = [("phistack:access.client_cidrs", c) for c in self.access.client_cidrs]
        if self.access.client_vpn:
            access_networks.append(("phistack:access.client_vpn.client_cidr", self.access.client_vpn.client_cidr))
        for key, cidr in access_networks:
            if ipaddress.IPv4Network(cidr).overlaps(self.network):
                raise _problem("overlap", f"overlaps vpc_cidr {self.vpc_cidr}", key=key, seen=cidr)
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
