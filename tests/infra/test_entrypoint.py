"""infra/__main__.py, the file `pulumi up` runs: same resources as the plan; nothing at all on a bad config."""

from __future__ import annotations

import contextvars
import runpy
from pathlib import Path

import pulumi
import pytest

from infra.config import parse_client_config
from infra.plan import Plan, record, run_plan

MAIN = Path(__file__).resolve().parents[2] / "infra" / "__main__.py"


def run_entrypoint(raw: dict[str, str]) -> Plan:
    cfg = parse_client_config(raw, "mocks")  # tells the mocks the region and account

    async def program(plan: Plan) -> None:
        runpy.run_path(str(MAIN), run_name="__main__")

    return contextvars.Context().run(record, cfg, raw, "example", False, program)


def test_pulumi_up_entrypoint_declares_what_the_plan_declares(example_raw: dict[str, str]) -> None:
    cfg = parse_client_config(example_raw, "example")
    via_main = run_entrypoint(example_raw)
    via_plan = run_plan(cfg, example_raw, "example")
    assert len(via_main.resources) > 100
    assert sorted(r.urn for r in via_main.resources) == sorted(r.urn for r in via_plan.resources)


def test_bad_config_stops_pulumi_up_before_anything_is_declared(example_raw: dict[str, str]) -> None:
    bad = {**example_raw, "phistack:vpc_cidr": "8.8.8.0/24"}
    captured: list[Plan] = []

    async def program(plan: Plan) -> None:
        captured.append(plan)
        runpy.run_path(str(MAIN), run_name="__main__")

    cfg = parse_client_config(example_raw, "mocks")
    with pytest.raises(pulumi.RunError, match=r"phistack:vpc_cidr = '8.8.8.0/24': is not inside a private range"):
        contextvars.Context().run(record, cfg, bad, "example", False, program)
    assert captured and captured[0].resources == []
