"""The client configuration's parts: the nested sections of a stack file (model, gpu, vector_store, access,
guardrails, attestations), the value checks they share, and the constants the program derives from. ``ClientConfig``
in ``infra.config`` composes them."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.catalog import GPU_TYPES, ModelName, Quantization

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

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
ROLE_ARN = re.compile(r"^arn:aws(-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
ACM_ARN = re.compile(r"^arn:aws(-us-gov)?:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
SAML_ARN = re.compile(r"^arn:aws(-us-gov)?:iam::\d{12}:saml-provider/[\w+=,.@-]{1,128}$")
TGW_ID = re.compile(r"^tgw-[0-9a-f]{8,17}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


def problem(kind: str, message: str, key: str | None = None, seen: Any = None) -> PydanticCustomError:
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


def nearest_region(value: str) -> str | None:
    """The known region a typo most likely meant: transposed letters first (us-esat-1), then the closest spelling."""
    known = sorted(known_regions())
    swapped = [r for r in known if sorted(r) == sorted(value)]
    near = swapped or difflib.get_close_matches(value, known, n=1)
    return near[0] if near else None


def private_network(value: Any, smallest: int = 28, largest: int = 8) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError:
        raise problem("cidr", "is not an IPv4 network in CIDR form such as 10.40.0.0/16") from None
    if not any(net.subnet_of(r) for r in PRIVATE_RANGES):
        raise problem("cidr_public", "is not inside a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)")
    if not largest <= net.prefixlen <= smallest:
        raise problem("cidr_size", f"must be between /{largest} and /{smallest}")
    return net


def matching(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise problem("format", f"is not {what}")
        return value

    return check


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        """`count: true` is a mistake, not 1: pydantic would take a bool for a number."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if field is not None and isinstance(value, bool) and field.annotation in (int, float, int | None):
                    raise problem("type", f"{name} is {str(value).lower()}, not a number")
        return data


class ModelConfig(Section):
    """Which Llama 3.1 model vLLM serves."""

    name: ModelName = Field("llama-3.1-8b-instruct", description="Llama 3.1 Instruct model size.")
    quantization: Quantization = Field("none", description="Weights format: none (bf16), fp8 or awq-int4.")
    max_model_len: int = Field(8192, ge=2048, le=131072, description="Longest context vLLM accepts (tokens).")


class GpuConfig(Section):
    """The GPU hosts that run vLLM, the gateway and (by default) PostgreSQL."""

    instance_type: str = Field(description="A g5, g6, g6e, p4d, p4de, p5, p5e or p5en type that can hold the model.")
    count: int = Field(
        1,
        ge=1,
        le=16,
        description="Number of hosts; more than one puts an internal TLS NLB in front and needs engine aurora.",
    )
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
            raise problem("gpu_type", f"is not a supported GPU instance type (families: {', '.join(families)})")
        return value

    @field_validator("ami_ssm_parameter")
    @classmethod
    def _ssm_path(cls, value: str) -> str:
        if not value.startswith("/aws/service/") and not value.startswith("/"):
            raise problem("ssm_path", "is not an SSM parameter path (it must start with /)")
        return value


class VectorStoreConfig(Section):
    """Where the embeddings live."""

    engine: Literal["host", "aurora"] = Field(
        "host", description="host: PostgreSQL + pgvector on the GPU host's encrypted volume; aurora: Aurora PostgreSQL."
    )
    aurora_engine_version: str = Field("16.6", description="Aurora PostgreSQL version (pgvector ships with it).")
    aurora_min_acu: float = Field(0.5, ge=0.5, le=256, description="Aurora Serverless v2 minimum capacity.")
    aurora_max_acu: float = Field(8, ge=1, le=256, description="Aurora Serverless v2 maximum capacity.")
    backup_retention_days: int = Field(
        35,
        ge=7,
        le=35,
        description=(
            "Backup retention (days): Aurora's automated backups, the hosts' AWS Backup, the host database's "
            "WAL archive."
        ),
    )

    @model_validator(mode="after")
    def _capacity_order(self) -> VectorStoreConfig:
        if self.aurora_min_acu > self.aurora_max_acu:
            raise problem(
                "acu",
                f"is above aurora_max_acu ({self.aurora_max_acu:g})",
                key="phistack:vector_store.aurora_min_acu",
                seen=self.aurora_min_acu,
            )
        return self


class ClientVpnConfig(Section):
    """AWS Client VPN endpoint, federated to the client's IdP (client-vpn mode)."""

    server_certificate_arn: Annotated[str, Field(description="ACM certificate of the VPN endpoint.")]
    saml_provider_arn: Annotated[str, Field(description="IAM SAML provider of the client's IdP.")]
    client_cidr: Annotated[str, Field(description="Private /12 to /22 range handed to VPN clients.")]

    _acm = field_validator("server_certificate_arn")(matching(ACM_ARN, "an ACM certificate ARN"))
    _saml = field_validator("saml_provider_arn")(matching(SAML_ARN, "an IAM SAML provider ARN"))

    @field_validator("client_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(private_network(value, smallest=22, largest=12))


class AccessConfig(Section):
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
        lambda v: None if v is None else matching(TGW_ID, "a transit gateway id (tgw-...)")(v)
    )

    @field_validator("client_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        networks = [str(private_network(v, smallest=32, largest=8)) for v in values]
        repeated = sorted({n for n in networks if networks.count(n) > 1})
        if repeated:
            raise problem("duplicate", f"lists {', '.join(repeated)} more than once")
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
            raise problem(
                "access", f"mode {self.mode} needs {', '.join(missing)}", key="phistack:access.mode", seen=self.mode
            )
        if extra := sorted(given - wants):
            raise problem(
                "access", f"{', '.join(extra)} does not apply to this mode", key="phistack:access.mode", seen=self.mode
            )
        return self


class Guardrails(Section):
    """Account-wide singletons. Turn one off only where the account already manages it elsewhere."""

    ebs_encryption_by_default: bool = Field(True, description="EBS encryption by default, with the EBS CMK.")
    s3_account_public_access_block: bool = Field(True, description="The account-level S3 public access block.")
    imds_defaults: bool = Field(True, description="Account IMDS defaults: IMDSv2 required, hop limit 1.")
    config_recorder: bool = Field(True, description="An AWS Config recorder and delivery channel.")
    guardduty: bool = Field(True, description="A GuardDuty detector with S3 and EBS malware protection.")
    session_manager_preferences: bool = Field(True, description="The region's Session Manager preferences.")
    iam_password_policy: bool = Field(
        True, description="The account password policy: 14+ characters of all four kinds, none of the last 24 reused."
    )


class Attestations(Section):
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
            raise problem("future", "is in the future")
        return value
