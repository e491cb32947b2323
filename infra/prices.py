"""The price table `phistack cost` applies (infra/data/prices.yaml, or one given with --prices): AWS list prices
per region and service, each service with its public source page and the date the figures were recorded.
A malformed table is one line naming the file and the field (exit 2), never a traceback."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, model_validator

import userfiles
from infra.errors import ConfigError, InfraError

PRICES = Path(__file__).parent / "data" / "prices.yaml"

# The prices each service may carry, in USD (ec2 is instance type -> per instance-hour). Every one a rule in
# infra/cost.py reads is here; a name not here is a typo.
NAMES: dict[str, tuple[str, ...]] = {
    # gp3: per GB-month; per IOPS-month above the 3,000 included; per MB/s-month above the 125 included
    "ebs": ("gp3_gb_month", "gp3_iops_month", "gp3_mbps_month"),
    "privatelink": ("interface_endpoint_az_hour", "gb_processed"),
    "nat": ("gateway_hour", "gb_processed", "public_ipv4_hour"),
    "elb": ("nlb_hour", "nlcu_hour"),
    "aurora": ("acu_hour", "storage_gb_month", "io_million"),
    "kms": ("key_month", "requests_10k"),
    "cloudtrail": ("data_events_100k",),
    "cloudwatch": ("logs_ingest_gb", "logs_store_gb_month", "alarm_month"),
    "s3": ("standard_gb_month", "put_1k", "get_1k"),
    "guardduty": ("cloudtrail_events_million", "flow_dns_gb", "s3_events_million", "ebs_scanned_gb"),
    "config": ("item",),
    "backup": ("ebs_warm_gb_month",),
    "sqs": ("requests_million",),
    "sns": ("publishes_million", "email_100k"),
    "transit_gateway": ("attachment_hour", "gb_processed"),
    "client_vpn": ("association_hour", "connection_hour"),
}


class NoPrices(InfraError):
    """The table has no prices at all for the stack's region (exit 3: nothing could be estimated)."""


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str
    basis: str
    hours_per_month: float = Field(gt=0)
    recorded: dt.date
    sources: dict[str, str]
    regions: dict[str, dict[str, dict[str, PositiveFloat]]]  # region -> service -> name -> USD

    @model_validator(mode="after")
    def _known_and_sourced(self) -> PriceTable:
        for region, services in self.regions.items():
            for service, prices in services.items():
                where = f"regions.{region}.{service}"
                if service != "ec2" and service not in NAMES:
                    raise ValueError(f"{where}: not a service the estimate knows ({_close(service, set(NAMES))})")
                if service not in self.sources:
                    raise ValueError(f"sources: no public source for {service}")
                if service == "ec2":
                    continue
                for name in prices:
                    if name not in NAMES[service]:
                        raise ValueError(
                            f"{where}.{name}: not a price of {service} ({_close(name, set(NAMES[service]))})"
                        )
        return self

    def price(self, region: str, service: str, name: str) -> float | None:
        return self.regions.get(region, {}).get(service, {}).get(name)


def _close(name: str, known: set[str]) -> str:
    near = difflib.get_close_matches(name, sorted(known), n=1)
    return f"did you mean {near[0]}?" if near else f"one of {', '.join(sorted(known))}"


def load_prices(path: Path | None = None) -> PriceTable:
    """The price table; a clear one-line ConfigError (exit 2) naming the file and field when it is not one."""
    file = path or PRICES
    try:  # bounded like every file a user names: size, nesting, no aliases or tags
        return PriceTable.model_validate(userfiles.load(file, "price table"))
    except userfiles.UserFileError as exc:
        raise ConfigError(str(file), [exc.problem]) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "value_error":  # ours, already naming the field
            raise ConfigError(str(file), [str(first["ctx"]["error"])]) from None
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ConfigError(str(file), [f"{where}: {first['msg']}"]) from None
