"""Shared fixtures: the example client's stack config and plans of it and its variants."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.config import ClientConfig, parse_client_config
from infra.config_sections import Guardrails
from infra.plan import Plan, run_plan
from infra.stackfile import read_stack_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "Pulumi.example.yaml"
CERT = "arn:aws:acm:us-east-1:111122223333:certificate/0f5d2c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"

# Each variant is the example client with some keys replaced (values as Pulumi passes them).
VARIANTS: dict[str, dict[str, Any]] = {
    "example": {},
    "llama70b-multigpu": {
        "phistack:model": {"name": "llama-3.1-70b-instruct"},
        "phistack:gpu": {"instance_type": "g6e.12xlarge", "count": 1, "data_volume_gb": 1000},
    },
    "aurora": {"phistack:vector_store": {"engine": "aurora", "aurora_max_acu": 16}},
    "multi-host": {
        "phistack:gpu": {"instance_type": "g6e.xlarge", "count": 3},
        "phistack:vector_store": {"engine": "aurora"},
        "phistack:az_count": "3",
        "phistack:gateway_certificate_arn": CERT,
    },
    "transit-gateway": {
        "phistack:access": {
            "mode": "transit-gateway",
            "transit_gateway_id": "tgw-0123456789abcdef0",
            "client_cidrs": ["10.200.0.0/16", "192.168.10.0/24"],
        },
    },
    "client-vpn": {
        "phistack:access": {
            "mode": "client-vpn",
            "client_vpn": {
                "server_certificate_arn": CERT,
                "saml_provider_arn": "arn:aws:iam::111122223333:saml-provider/clinic-idp",
                "client_cidr": "172.20.0.0/22",
            },
        },
    },
    "internet-egress-optout": {"phistack:allow_internet_egress": "true"},
    "no-guardrails": {"phistack:guardrails": dict.fromkeys(Guardrails.model_fields, False)},
}
SECURE_VARIANTS = [v for v in VARIANTS if v != "internet-egress-optout"]


def encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture(scope="session")
def example_raw() -> dict[str, str]:
    return read_stack_config(EXAMPLE)


def variant_raw(example: dict[str, str], name: str) -> dict[str, str]:
    raw = dict(example)
    raw.update({k: encode(v) for k, v in VARIANTS[name].items()})
    return raw


@pytest.fixture(scope="session")
def configure(example_raw: dict[str, str]) -> Callable[..., ClientConfig]:
    """Parse the example with overrides: ``configure(**{"phistack:az_count": "3"})``."""

    def make(**overrides: Any) -> ClientConfig:
        raw = dict(example_raw)
        raw.update({k: encode(v) for k, v in overrides.items()})
        return parse_client_config(raw, "test.yaml")

    return make


_PLANS: dict[str, tuple[ClientConfig, Plan]] = {}


@pytest.fixture(scope="session")
def planned(example_raw: dict[str, str]) -> Callable[[str], tuple[ClientConfig, Plan]]:
    """``planned("aurora")`` → (config, plan) for a variant, computed once per session."""

    def get(name: str) -> tuple[ClientConfig, Plan]:
        if name not in _PLANS:
            raw = variant_raw(example_raw, name)
            cfg = parse_client_config(raw, f"{name}.yaml")
            _PLANS[name] = (cfg, run_plan(cfg, raw))
        return _PLANS[name]

    return get


@pytest.fixture(autouse=True)
def _signing_keys_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Signing keys made by tests (and the CLI subprocesses they start) never land in the real home."""
    monkeypatch.setenv("PHISTACK_KEY_DIR", str(tmp_path_factory.getbasetemp() / "keys"))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """An emulated account in-process (moto), with no credentials or endpoint from the shell leaking in."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")
