"""The fact seam holds at run time as mypy says it does at rest: every item the live source (an emulated account)
and the plan source (every planned variant) produce is exactly its kind's record, field by field and type by type,
and every kind a control reads is produced by both sources (or, for the plan, declared unknowable with a reason)."""

from __future__ import annotations

import types
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints, is_typeddict

import boto3
import pytest

from compliance.controls import catalog
from compliance.facts import ATTESTATIONS, Facts
from compliance.facts.kinds import ALL, BY_NAME
from compliance.sources.live import ALL_TASKS, collect
from compliance.sources.plan import facts_from_plan
from tests.compliance.accounts import REGION, build_compliant
from tests.conftest import VARIANTS, variant_raw


def problems(value: Any, annotation: Any, where: str) -> list[str]:
    """Why ``value`` is not of ``annotation`` (the handful of shapes records use), or []."""
    origin = get_origin(annotation)
    if annotation is Any:
        return []
    if origin in (Required, NotRequired):
        return problems(value, get_args(annotation)[0], where)
    if origin in (Union, types.UnionType):
        options = [problems(value, a, where) for a in get_args(annotation)]
        return [] if any(not p for p in options) else [f"{where}: {value!r} is none of {annotation}"]
    if origin is Literal:
        return [] if value in get_args(annotation) else [f"{where}: {value!r} not in {get_args(annotation)}"]
    if annotation is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    if is_typeddict(annotation):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a {annotation.__name__}"]
        hints = get_type_hints(annotation, include_extras=True)
        # Required keys from the hints (with postponed annotations, __required_keys__ can miss NotRequired).
        required = {k for k, h in hints.items() if get_origin(h) is not NotRequired}
        out = [f"{where}: {annotation.__name__} lacks {k}" for k in required - set(value)]
        out += [f"{where}: {annotation.__name__} has no field {k}" for k in set(value) - set(hints)]
        for key in set(value) & set(hints):
            out += problems(value[key], hints[key], f"{where}.{key}")
        return out
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for i, v in enumerate(value) for p in problems(v, get_args(annotation)[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a dict"]
        key_type, value_type = get_args(annotation)
        return [p for k, v in value.items() for p in problems(k, key_type, where) + problems(v, value_type, where)]
    if annotation is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where}: {value!r} is not int"]
    if annotation is object:
        return []
    return [] if isinstance(value, annotation) else [f"{where}: {value!r} is not {annotation.__name__}"]


def record_problems(facts: Facts) -> list[str]:
    out = []
    for name, items in facts.items.items():
        record = BY_NAME[name].record
        for i, item in enumerate(items):
            out += problems(item, record, f"{facts.source} {name}[{i}]")
    return out


def test_the_checker_itself_finds_wrong_fields_and_types() -> None:
    from compliance.facts.network import Vpc

    good = {"id": "vpc-1", "region": "us-east-1", "cidr": None, "is_default": False, "tags": {}}
    assert problems(good, Vpc, "v") == []
    assert problems({**good, "cidr": 10}, Vpc, "v") != []
    assert problems({**good, "extra": 1}, Vpc, "v") == ["v: Vpc has no field extra"]
    assert problems({k: v for k, v in good.items() if k != "tags"}, Vpc, "v") == ["v: Vpc lacks tags"]
    assert problems({**good, "is_default": 1}, Vpc, "v") != []


@pytest.fixture
def live_facts(aws: boto3.Session) -> Facts:
    """A compliant emulated account, plus what it lacks for some kinds: an IAM user with a key and a password,
    an Aurora cluster, a snapshot."""
    session = aws
    build_compliant(session)
    iam = session.client("iam")
    iam.create_user(UserName="clinic-admin")
    iam.create_access_key(UserName="clinic-admin")
    iam.create_login_profile(UserName="clinic-admin", Password="a-Long-passw0rd!")
    rds = session.client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier="kb",
        Engine="aurora-postgresql",
        MasterUsername="owner",
        MasterUserPassword="a-long-password",
        StorageEncrypted=True,
    )
    rds.create_db_cluster_snapshot(DBClusterIdentifier="kb", DBClusterSnapshotIdentifier="kb-copy")
    ec2 = session.client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, Encrypted=True)
    ec2.create_snapshot(VolumeId=volume["VolumeId"])
    facts, _ = collect(session, [REGION], max_attempts=1)
    return facts


def test_live_items_are_their_records(live_facts: Facts) -> None:
    assert record_problems(live_facts) == []
    present = {name for name, items in live_facts.items.items() if items}
    # The emulated account holds at least one item of every kind moto can represent (GuardDuty findings and
    # patch compliance: moto has no API for them; tests/compliance/test_unemulated_apis.py checks those records).
    assert present >= set(BY_NAME) - {"hosts", "guardduty_detectors", "ssm_managed_instances", "nat_gateways",
                                      "egress_only_gateways", "internet_gateways", "guardduty_findings",
                                      "patch_compliance"}, set(BY_NAME) - present  # fmt: skip


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_plan_items_are_their_records(variant: str, example_raw: dict[str, str], planned: Any) -> None:
    _, plan = planned(variant)
    facts = facts_from_plan(plan.to_json(variant_raw(example_raw, variant)))
    assert record_problems(facts) == []


def test_every_kind_a_control_reads_is_produced_by_both_sources(example_raw: dict[str, str], planned: Any) -> None:
    read = {kind for c in catalog() if c.automated for kind in c.facts} - {ATTESTATIONS}
    assert read <= set(BY_NAME)
    live = {t.kind.name for t in ALL_TASKS} | {"hosts"}  # hosts: from the evidence files
    assert read <= live, read - live
    for variant in ("example", "no-guardrails"):
        _, plan = planned(variant)
        facts = facts_from_plan(plan.to_json(variant_raw(example_raw, variant)))
        unknown = {k for k in read if k not in facts.items and k not in facts.gaps}
        assert unknown == set(), f"{variant}: the plan neither produces nor explains {unknown}"
        assert all(g.reason and g.status == "NOT_APPLICABLE" for g in facts.gaps.values())
    assert len(ALL) == len(BY_NAME)  # no kind defined twice
