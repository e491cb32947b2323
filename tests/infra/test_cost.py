"""`phistack cost`: the example client's estimate against one computed by hand from the table, ranges, hours,
prices the table lacks named instead of guessed, and every type the program can plan accounted for."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.config import ClientConfig, parse_client_config
from infra.cost import AGGREGATED, NO_CHARGE, PER_RESOURCE, Assumptions, Estimate, estimate
from infra.errors import ConfigError
from infra.plan import Plan, run_plan
from infra.prices import load_prices
from phistack.cli import main
from tests.conftest import ROOT, VARIANTS, encode

Planned = Callable[[str], tuple[ClientConfig, Plan]]

# The example client in us-east-1, worked out by hand from infra/data/prices.yaml and the default assumptions.
HAND = {
    "EC2": 1.861 * 730,  # g6e.xlarge, 730 h: 1,358.53
    "EBS": 200 * 0.08 + 500 * 0.08,  # root 200 GB + data 500 GB gp3, at the included IOPS and throughput: 56.00
    "PrivateLink": 9 * 2 * 730 * 0.01 + 50 * 0.01,  # 9 interface endpoints in 2 AZs, 50 GB: 131.90
    "S3": (8.03 * 2 + 10 + 50) * 0.023 + 100 * 0.005 + 500 * 0.0004,  # 8B bf16 weights + bundle + rest: 2.45
    "KMS": 3 * 1.00 + 200_000 / 10_000 * 0.03,  # 3 keys, 200k requests: 3.60
    "CloudTrail": 1_000_000 / 100_000 * 0.10,  # data events on the document bucket: 1.00
    "CloudWatch": 20 * 0.50 + 20 * 12 * 0.03 + 12 * 0.10,  # 20 GB in, 12 months kept, 12 alarms: 18.40
    "GuardDuty": 1 * 4.00 + 10 * 1.00 + 1 * 0.80,  # management events, flow/DNS, S3 protection: 14.80
    "Config": 1_000 * 0.003,  # 3.00
    "Backup": 500 * 0.5 * (1 + 0.02 * 34) * 0.05,  # half of 500 GB + 2 %/day for 35 days: 21.00
    "SQS": 0.5 * 0.40,  # 0.20
    "SNS": 1_000 / 1e6 * 0.50 + 1_000 / 1e5 * 2.00,  # 0.02
}
HAND_TOTAL = 1610.90


def by_service(result: Estimate) -> dict[str, float]:
    sums: dict[str, float] = {}
    for line in result.lines:
        assert line.low is not None, line
        sums[line.service] = sums.get(line.service, 0.0) + line.low
    return sums


def example_estimate(planned: Planned, assume: Assumptions | None = None) -> Estimate:
    cfg, plan = planned("example")
    return estimate(plan.to_json({}), cfg, load_prices(), assume or Assumptions())


def test_the_example_clients_estimate_is_the_one_computed_by_hand(planned: Planned) -> None:
    result = example_estimate(planned)
    sums = by_service(result)
    assert sums.keys() == HAND.keys()
    for service, expected in HAND.items():
        assert sums[service] == pytest.approx(expected, abs=0.005), service
    assert round(result.low, 2) == round(result.high, 2) == HAND_TOTAL == round(sum(HAND.values()), 2)
    assert not result.unpriced


def test_hours_per_day_scale_only_the_gpu_hosts(planned: Planned) -> None:
    result = example_estimate(planned, Assumptions(gpu_hours_per_day=8))
    sums = by_service(result)
    assert sums["EC2"] == pytest.approx(1.861 * 730 * 8 / 24)
    assert sums["EBS"] == pytest.approx(HAND["EBS"])  # volumes and everything else bill around the clock
    assert result.low == pytest.approx(HAND_TOTAL - HAND["EC2"] + 1.861 * 730 * 8 / 24, abs=0.01)


def test_aurora_serverless_is_a_range_of_acus(planned: Planned) -> None:
    cfg, plan = planned("aurora")
    result = estimate(plan.to_json({}), cfg, load_prices(), Assumptions())
    acu = next(line for line in result.lines if line.service == "Aurora" and "ACU" in line.item)
    # a writer and a reader, each 0.5 to 16 ACU, 730 h at 0.12
    assert (acu.low, acu.high) == (pytest.approx(2 * 0.5 * 730 * 0.12), pytest.approx(2 * 16 * 730 * 0.12))
    assert result.high - result.low == pytest.approx(2 * 15.5 * 730 * 0.12)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_type_the_program_plans_is_priced_or_known_to_cost_nothing(planned: Planned, variant: str) -> None:
    cfg, plan = planned(variant)
    result = estimate(plan.to_json({}), cfg, load_prices(), Assumptions())
    assert [line.item for line in result.lines if "no price rule" in line.reason] == []
    assert not result.unpriced, [line.reason for line in result.unpriced]  # us-east-1 has every price used


def test_the_rule_sets_do_not_overlap() -> None:
    assert not (set(PER_RESOURCE) & AGGREGATED) and not (set(PER_RESOURCE) & NO_CHARGE) and not (AGGREGATED & NO_CHARGE)


def _in(region: str, example_raw: dict[str, str], **more: Any) -> tuple[ClientConfig, dict[str, Any]]:
    raw = dict(example_raw) | {"aws:region": region} | {k: encode(v) for k, v in more.items()}
    cfg = parse_client_config(raw, f"{region}.yaml")
    return cfg, run_plan(cfg, raw).to_json(raw)


def test_a_price_the_table_lacks_is_named_not_guessed(example_raw: dict[str, str]) -> None:
    cfg, plan = _in("eu-west-1", example_raw)
    result = estimate(plan, cfg, load_prices(), Assumptions())
    reasons = {line.service: line.reason for line in result.unpriced}
    assert reasons == {
        "EC2": "no price for g6e.xlarge in eu-west-1 in the table",
        "GuardDuty": "no price for guardduty.cloudtrail_events_million in eu-west-1 in the table",
    }
    ebs = next(line for line in result.lines if line.service == "EBS" and "data" in line.item)
    assert ebs.low == pytest.approx(500 * 0.088)  # what the table has for the region is priced
    assert result.low == pytest.approx(sum(line.low or 0 for line in result.lines))
    g5 = next(row for row in result.gpu_options if row["instance_type"] == "g5.xlarge")
    assert g5["monthly"] == pytest.approx(1.123 * 730) and g5["fits"]


def test_the_command_says_incomplete_and_exits_3(
    tmp_path: Path, example_raw: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.eu.yaml"
    text = (ROOT / "Pulumi.example.yaml").read_text().replace("aws:region: us-east-1", "aws:region: eu-west-1")
    stack.write_text(text)
    assert main(["cost", "--config", str(stack)]) == 3
    captured = capsys.readouterr()
    assert "total of what is priced (at least)" in captured.out
    assert "not priced: g6e.xlarge (example-clinic-gpu-0): no price for g6e.xlarge in eu-west-1" in captured.err
    stack.write_text(text.replace("eu-west-1", "ap-south-1"))
    assert main(["cost", "--config", str(stack)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "no prices for ap-south-1 in the bundled table (it has us-east-1, us-west-2, eu-west-1)" in err[0]
    )


def test_json_output_and_the_plan_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--client", "example", "--format", "json", "--hours-per-day", "24"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "phistack/cost/v1" and document["complete"]
    assert document["monthly_low"] == document["monthly_high"] == HAND_TOTAL
    assert document["prices"]["recorded"] == "2026-12-03"
    assert set(document["prices"]["sources"]) >= {"ec2", "ebs", "privatelink", "guardduty"}
    options = {row["instance_type"]: row for row in document["gpu_options"]}
    assert options["g6e.xlarge"]["planned"] and options["g6e.xlarge"]["fits"]
    assert options["p5.48xlarge"]["monthly"] is None  # not in the table: said, not guessed
    plan_json = tmp_path / "plan.json"
    assert main(["plan", "--client", "example", "--out", str(plan_json)]) == 0
    assert "estimated monthly cost: $1,610.90 (USD list prices in us-east-1" in capsys.readouterr().out
    assert main(["cost", "--plan", str(plan_json), "--format", "json"]) == 0  # the same from plan.json
    assert json.loads(capsys.readouterr().out)["monthly_low"] == HAND_TOTAL


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--assume", "logs_ingest=5"],
            "expected NAME=NUMBER with NAME one of the assumptions (did you mean logs_ingest_gb",
        ),
        (["--assume", "logs_ingest_gb=-1"], "logs_ingest_gb: -1 is out of range"),
        (["--hours-per-day", "25"], "gpu_hours_per_day: 25.0 is out of range"),
        (["--prices", "{tmp}/missing.yaml"], "missing.yaml: the price table does not exist."),
        (["--prices", "{tmp}/nosource.yaml"], "sources: no public source for ebs"),
        (
            ["--prices", "{tmp}/typo.yaml"],
            "regions.us-east-1.ebs.gp3_gb_mnth: not a price of ebs (did you mean gp3_gb_month?)",
        ),
    ],
)
def test_mistakes_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    table = (ROOT / "infra" / "data" / "prices.yaml").read_text()
    (tmp_path / "nosource.yaml").write_text(table.replace("  ebs: https://aws.amazon.com/ebs/pricing/\n", ""))
    (tmp_path / "typo.yaml").write_text(table.replace("gp3_gb_month: 0.08,", "gp3_gb_mnth: 0.08,", 1))
    assert main(["cost", "--client", "example", *[a.format(tmp=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_the_table_names_a_source_and_a_date_for_every_figure() -> None:
    table = load_prices()
    for region, services in table.regions.items():
        for service, prices in services.items():
            assert prices and table.sources[service].startswith("https://aws.amazon.com/"), (region, service)
    assert {"us-east-1", "us-west-2", "eu-west-1"} <= set(table.regions)
    with pytest.raises(ConfigError):
        load_prices(ROOT / "infra" / "data" / "bootstrap.sh")
