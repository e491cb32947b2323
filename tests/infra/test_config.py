"""The client config: every kind of refused value, with a message naming the key and the value seen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.catalog import GPU_TYPES, MODELS, fits, types_that_fit
from infra.config import SIX_YEARS_DAYS, ClientConfig, parse_client_config
from infra.errors import ConfigError
from infra.prices import load_prices
from infra.stackfile import read_stack_config
from tests.conftest import CERT

Configure = Callable[..., ClientConfig]


def test_example_parses_with_secure_defaults(configure: Configure) -> None:
    cfg = configure()
    assert cfg.client == "example-clinic" and cfg.region == "us-east-1"
    assert cfg.log_retention_days == SIX_YEARS_DAYS == 2192
    assert cfg.allow_internet_egress is False and cfg.allow_short_log_retention is False
    assert cfg.access.mode == "ssm-port-forwarding"
    assert all(cfg.guardrails.model_dump().values())
    assert cfg.attestations.baa_aws_signed == dt.date(2026, 1, 15)


def test_values_arrive_as_pulumi_strings_and_as_native_yaml(example_raw: dict[str, str]) -> None:
    native: dict[str, Any] = {
        "phistack:az_count": 3,
        "phistack:allow_short_log_retention": True,
        "phistack:log_retention_days": 365,
    }
    strings = {
        "phistack:az_count": "3",
        "phistack:allow_short_log_retention": "true",
        "phistack:log_retention_days": "365",
    }
    a = parse_client_config({**example_raw, **native}, "a")
    b = parse_client_config({**example_raw, **strings}, "b")
    assert a == b and a.az_count == 3 and a.retention_days == 365


REFUSED: list[tuple[str, Any, str]] = [
    # (key, value, words the message must contain besides the key)
    ("phistack:client", "Acme Clinic", "slug"),
    ("phistack:account_id", "12345", "12-digit"),
    ("aws:region", "mars-1", "region"),
    ("phistack:vpc_cidr", "8.8.0.0/16", "private range"),
    ("phistack:vpc_cidr", "10.0.0.0/12", "/16 and /24"),
    ("phistack:vpc_cidr", "10.0.0.0/25", "/16 and /24"),
    ("phistack:vpc_cidr", "not-a-cidr", "CIDR"),
    ("phistack:az_count", "1", "greater than or equal to 2"),
    ("phistack:az_count", "two", "integer"),
    ("phistack:model", {"name": "llama-3.2-1b"}, "llama-3.1-8b-instruct"),
    ("phistack:model", {"quantization": "int3"}, "awq-int4"),
    ("phistack:gpu", {"instance_type": "g4dn.xlarge"}, "not a supported GPU instance type"),
    ("phistack:gpu", {"instance_type": "g6e.xlarge", "count": 0}, "greater than or equal to 1"),
    ("phistack:gpu", "g6e.xlarge", "mapping"),
    ("phistack:vector_store", {"engine": "dynamodb"}, "host"),
    ("phistack:log_retention_days", "100", "CloudWatch Logs retention value"),
    ("phistack:log_retention_days", "365", "six years"),
    ("phistack:audit_log_lock_days", "0", "greater than or equal to 1"),
    ("phistack:admin_role_arns", [], "at least 1"),
    ("phistack:admin_role_arns", ["arn:aws:iam::111122223333:user/bob"], "IAM role ARN"),
    ("phistack:access", {"mode": "public-alb"}, "ssm-port-forwarding"),
    ("phistack:access", {"mode": "transit-gateway"}, "needs client_cidrs, transit_gateway_id"),
    ("phistack:access", {"mode": "ssm-port-forwarding", "client_cidrs": ["10.9.0.0/16"]}, "does not apply"),
    (
        "phistack:access",
        {"mode": "transit-gateway", "transit_gateway_id": "tgw-0123456789abcdef0", "client_cidrs": ["0.0.0.0/0"]},
        "private range",
    ),
    (
        "phistack:access",
        {"mode": "transit-gateway", "transit_gateway_id": "tgw-0123456789abcdef0", "client_cidrs": ["10.40.5.0/24"]},
        "overlaps",
    ),
    (
        "phistack:access",
        {
            "mode": "client-vpn",
            "client_vpn": {
                "server_certificate_arn": "nope",
                "saml_provider_arn": "arn:aws:iam::111122223333:saml-provider/x",
                "client_cidr": "172.20.0.0/22",
            },
        },
        "ACM certificate ARN",
    ),
    ("phistack:gateway_port", "80", "greater than or equal to 1024"),
    ("phistack:gateway_certificate_arn", "arn:aws:acm:us-east-1:1:cert", "ACM certificate ARN"),
    ("phistack:alarm_emails", ["not-an-address"], "email"),
    ("phistack:attestations", {"baa_aws_signed": "2999-01-01"}, "future"),
    ("phistack:attestations", {"baa_aws_signed": "last tuesday"}, "date"),
    ("phistack:extra_endpoints", ["dynamodb"], "secretsmanager"),
    ("phistack:tags", {"phistack:client": "other"}, "reserved"),
    ("phistack:allow_internet_egress", "maybe", "boolean"),
    ("phistack:guardrails", {"guardduty": "nah"}, "boolean"),
]


@pytest.mark.parametrize(("key", "value", "words"), REFUSED, ids=[f"{k}={v!r}"[:60] for k, v, _ in REFUSED])
def test_refused_values_name_key_and_value(configure: Configure, key: str, value: Any, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        configure(**{key: value})
    rendered = caught.value.render()
    assert key.split(".")[0] in rendered
    assert words in rendered
    assert "Traceback" not in rendered and len(rendered.splitlines()) <= 5
    if isinstance(value, str) and key not in ("phistack:gpu",):
        assert value in rendered


def test_model_must_fit_the_gpu_and_the_error_names_types_that_can(configure: Configure) -> None:
    with pytest.raises(ConfigError) as caught:
        configure(
            **{"phistack:model": {"name": "llama-3.1-70b-instruct"}, "phistack:gpu": {"instance_type": "g6e.xlarge"}}
        )
    message = caught.value.render()
    assert "phistack:gpu.instance_type = 'g6e.xlarge'" in message
    assert "llama-3.1-70b-instruct" in message and "types that can hold it: g6e.12xlarge" in message


def test_405b_fits_one_8_gpu_h100_or_h200_host_in_fp8_with_room_on_disk(configure: Configure) -> None:
    model = {"name": "llama-3.1-405b-instruct", "quantization": "fp8"}
    with pytest.raises(ConfigError) as caught:
        configure(**{"phistack:model": model, "phistack:gpu": {"instance_type": "g6e.48xlarge"}})
    assert "needs 414 GB; types that can hold it: p4de.24xlarge, p5.48xlarge, p5e.48xlarge" in caught.value.render()
    with pytest.raises(ConfigError, match=r"phistack:gpu.data_volume_gb = 500: is 500 GB, but .* 406 GB .* 506"):
        configure(**{"phistack:model": model, "phistack:gpu": {"instance_type": "p5.48xlarge", "root_volume_gb": 460}})
    with pytest.raises(ConfigError, match=r"phistack:gpu.root_volume_gb = 200: .* set at least 456"):
        configure(**{"phistack:model": model, "phistack:gpu": {"instance_type": "p5.48xlarge", "data_volume_gb": 600}})
    for instance_type in ("p5.48xlarge", "p5e.48xlarge"):
        gpu = {"instance_type": instance_type, "root_volume_gb": 460, "data_volume_gb": 600}
        cfg = configure(**{"phistack:model": model, "phistack:gpu": gpu})
        assert cfg.gpu_type.gpus == 8  # tensor parallel 8 on one host
    # bf16 (812 GB of weights) fits only the H200 hosts.
    with pytest.raises(ConfigError, match="types that can hold it: p5e.48xlarge, p5en.48xlarge"):
        configure(
            **{
                "phistack:model": {"name": "llama-3.1-405b-instruct"},
                "phistack:gpu": {"instance_type": "p5.48xlarge", "root_volume_gb": 900, "data_volume_gb": 1000},
            }
        )


def test_several_nodes_need_a_certificate_and_small_vpcs_need_room(configure: Configure) -> None:
    with pytest.raises(ConfigError, match="phistack:gateway_certificate_arn is not set, and gpu.count is 2"):
        configure(**{"phistack:gpu": {"instance_type": "g6e.xlarge", "count": 2}})
    # Several hosts behind one load balancer share one knowledge base and one audit trail: never a store per host.
    with pytest.raises(ConfigError, match="phistack:vector_store.engine = 'host': cannot serve gpu.count 3") as caught:
        configure(
            **{"phistack:gpu": {"instance_type": "g6e.xlarge", "count": 3}, "phistack:gateway_certificate_arn": CERT}
        )
    assert len(caught.value.render().splitlines()) == 1 and "engine: aurora" in caught.value.render()
    shared = configure(
        **{
            "phistack:gpu": {"instance_type": "g6e.xlarge", "count": 3},
            "phistack:gateway_certificate_arn": CERT,
            "phistack:vector_store": {"engine": "aurora"},
        }
    )
    assert shared.gpu.count == 3
    # The bounds (/16-/24, 2-6 AZs) guarantee room: the worst case still gets AWS's smallest subnet, /28.
    worst = configure(
        **{"phistack:vpc_cidr": "10.1.0.0/24", "phistack:az_count": "6", "phistack:allow_internet_egress": "true"}
    )
    assert worst.subnet_prefix == 28


def test_unknown_keys_get_a_suggestion(configure: Configure) -> None:
    with pytest.raises(
        ConfigError, match=r"phistack:vpc_cdir is not a known setting \(did you mean phistack:vpc_cidr\?\)"
    ):
        configure(**{"phistack:vpc_cdir": "10.0.0.0/16"})
    with pytest.raises(ConfigError, match=r"phistack:gpu.cuont is not a known setting \(did you mean count\?\)"):
        configure(**{"phistack:gpu": {"instance_type": "g6e.xlarge", "cuont": 2}})


def test_missing_required_key(example_raw: dict[str, str]) -> None:
    raw = {k: v for k, v in example_raw.items() if k != "phistack:gpu"}
    with pytest.raises(ConfigError, match="phistack:gpu is required but not set"):
        parse_client_config(raw, "x.yaml")


def test_opt_outs_are_explicit(configure: Configure) -> None:
    cfg = configure(**{"phistack:log_retention_days": "365", "phistack:allow_short_log_retention": "true"})
    assert cfg.retention_days == 365
    assert configure(**{"phistack:log_retention_days": "never"}).retention_days is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("", "empty"),
        ("config: [\n", "not valid YAML at line 2"),
        ("- a\n- b\n", "not a mapping"),
        ("encryptionsalt: x\n", "no config: mapping"),
        ("config:\n  client: acme\n", "has no namespace; write it as phistack:client"),
        ("config:\n  phistack:client:\n    secure: v1:abc\n", "encrypted"),
    ],
)
def test_broken_stack_files(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        read_stack_config(path)
    assert words in caught.value.render() and str(path) in caught.value.render()


def test_missing_and_unreadable_stack_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_stack_config(tmp_path / "Pulumi.none.yaml")
    binary = tmp_path / "Pulumi.bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="is not UTF-8"):
        read_stack_config(binary)


def test_other_providers_secrets_are_skipped_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  aws:secretKey:\n    secure: v1:abc\n  aws:region: us-east-1\n")
    assert read_stack_config(path) == {"aws:region": "us-east-1"}


class TestGpuSizing:
    """The sizing rule, checked against figures that can be worked out by hand."""

    def test_weights(self) -> None:
        llama8b, llama70b = MODELS["llama-3.1-8b-instruct"], MODELS["llama-3.1-70b-instruct"]
        assert llama8b.weights_gb("none") == pytest.approx(16.06)
        assert llama70b.weights_gb("fp8") == pytest.approx(70.6)
        # 8B: 2 (K,V) x 32 layers x 8 heads x 128 dims x 2 bytes = 128 KiB per token; x 8192 x 2 sequences.
        assert llama8b.kv_cache_gb(8192) == pytest.approx(131072 * 8192 * 2 / 1e9)

    @pytest.mark.parametrize(
        ("model", "quant", "instance", "ok"),
        [
            ("llama-3.1-8b-instruct", "none", "g5.xlarge", True),  # 24 GB A10G: the classic 8B host
            ("llama-3.1-8b-instruct", "none", "g6e.xlarge", True),
            ("llama-3.1-70b-instruct", "none", "g6e.xlarge", False),
            ("llama-3.1-70b-instruct", "none", "g5.12xlarge", False),  # 96 GB < 141 GB of weights
            ("llama-3.1-70b-instruct", "none", "g6e.12xlarge", True),  # 4 x 48 GB
            ("llama-3.1-70b-instruct", "fp8", "g5.12xlarge", True),
            ("llama-3.1-70b-instruct", "awq-int4", "g6e.xlarge", False),
            ("llama-3.1-70b-instruct", "none", "p4d.24xlarge", True),
        ],
    )
    def test_fits(self, model: str, quant: str, instance: str, ok: bool) -> None:
        spec = MODELS[model]  # type: ignore[index]
        assert fits(GPU_TYPES[instance], spec, quant, 8192) is ok  # type: ignore[arg-type]

    def test_suggestions_are_cheapest_first_and_all_fit(self) -> None:
        spec = MODELS["llama-3.1-70b-instruct"]
        names = types_that_fit(spec, "none", 8192)
        assert names[0] == "g6e.12xlarge"
        assert all(fits(GPU_TYPES[n], spec, "none", 8192) for n in names)
        assert "g5.12xlarge" not in names


def test_the_readme_sizing_table_is_the_catalogs() -> None:
    """Each row of the README's table: the needed size and the smallest fitting types, as catalog.py computes them."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| Llama 3.1 ")]
    prices = load_prices()
    assert len(rows) == 4
    for row in rows:
        name, formats, needs, fitting, monthly = (cell.strip() for cell in row.strip("|").split("|"))
        model = MODELS[f"llama-3.1-{name.split()[-1].lower()}-instruct"]  # type: ignore[index]
        for i, fmt in enumerate(formats.split(" / ")):
            quantization = "none" if fmt == "bf16" else fmt
            assert f"{model.needed_gb(quantization, 8192):.0f}" == needs.split(" / ")[i].split()[0], row  # type: ignore[arg-type]
            first = fitting.split(" / ")[i] if " / " in fitting else fitting.split(" (")[0].replace("*", "")
            named = [t.strip() for t in first.split(",")]
            assert named[0] in types_that_fit(model, quantization, 8192)[:4], row  # type: ignore[arg-type]
            assert all(fits(GPU_TYPES[t], model, quantization, 8192) for t in named), row  # type: ignore[arg-type]
            hourly = prices.price("us-east-1", "ec2", named[0])
            cost = monthly.split(" / ")[i] if " / " in monthly else monthly
            assert cost == ("not in the price table" if hourly is None else f"${hourly * 730:,.2f}"), row
