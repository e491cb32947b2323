"""`phistack fleet audit` on moto: several accounts reached through assumed roles, drift between runs read only
from a previous bundle that verifies, a client whose role is refused reported (exit 3), and a fleet file's
mistakes refused before any account is touched."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
import yaml

from compliance.model import Status
from compliance.reports.bundle import verify_bundle
from phistack.cli import main
from phistack.fleet import Fleet, Outcome, Prepared
from phistack.fleet_file import Client
from tests.compliance.accounts import REGION, build_compliant

COMPLIANT, EMPTY, REFUSED = "111111111111", "222222222222", "333333333333"


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/phistack-audit"


def client_entry(name: str, account: str, **more: Any) -> dict[str, Any]:
    entry = {"name": name, "account": account, "regions": [REGION], "role_arn": role(account)}
    return entry | {"external_id": f"ext-{name}"} | more


def assumed(base: boto3.Session, account: str) -> boto3.Session:
    creds = base.client("sts").assume_role(RoleArn=role(account), RoleSessionName="setup")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def write_fleet(folder: Path, clients: list[dict[str, Any]]) -> Path:
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump({"clients": clients}), encoding="utf-8")
    return path


AssumeCalls = list[dict[str, Any]]


@pytest.fixture
def refusing_sessions(monkeypatch: pytest.MonkeyPatch) -> AssumeCalls:
    """Every boto3 session the command makes records its AssumeRole calls and is refused the role of REFUSED,
    as AWS refuses a role whose trust policy does not name the caller (moto assumes any role)."""
    calls: AssumeCalls = []
    real = boto3.Session

    def refuse(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))
        if f"::{REFUSED}:" in params["RoleArn"]:
            raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "t"}}, "AssumeRole")

    def session(*args: Any, **kwargs: Any) -> boto3.Session:
        made = real(*args, **kwargs)
        made.events.register("provide-client-params.sts.AssumeRole", refuse)
        return made

    monkeypatch.setattr(boto3, "Session", session)
    return calls


def run_fleet(
    fleet: Path, out: Path, capsys: pytest.CaptureFixture[str], *more: str
) -> tuple[int, dict[str, Any], Path]:
    code = main(["fleet", "audit", str(fleet), "--out", str(out), "--no-pdf", "--max-attempts", "1", *more])
    run = max(p for p in out.iterdir() if p.is_dir())
    capsys.readouterr()
    return code, json.loads((run / "fleet.json").read_text(encoding="utf-8")), run


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["clients"]}


def test_fleet_audit_reaches_each_account_through_its_role_and_reports_the_one_refused(
    aws: boto3.Session, tmp_path: Path, refusing_sessions: AssumeCalls, capsys: pytest.CaptureFixture[str]
) -> None:
    build_compliant(assumed(aws, COMPLIANT))
    fleet = write_fleet(
        tmp_path,
        [client_entry("clinic-a", COMPLIANT), client_entry("clinic-b", EMPTY), client_entry("clinic-c", REFUSED)],
    )
    code, document, run = run_fleet(fleet, tmp_path / "runs", capsys)

    assert code == 3  # a client could not be reached: the run is incomplete, as `audit` says with exit 3
    clients = by_name(document)
    refused = clients["clinic-c"]
    assert refused["outcome"] == "unreachable" and refused["bundle"] is None
    assert "cannot be assumed: sts:AssumeRole answered AccessDenied" in refused["reason"]
    assert not (run / "clinic-c").exists()
    # Each account was audited as itself, with its own external id and the run's session name.
    sent = {c["RoleArn"]: c for c in refusing_sessions}
    for name, account in (("clinic-a", COMPLIANT), ("clinic-b", EMPTY), ("clinic-c", REFUSED)):
        assert sent[role(account)]["ExternalId"] == f"ext-{name}"
        assert sent[role(account)]["RoleSessionName"] == "phistack-fleet-audit"
    for name, account in (("clinic-a", COMPLIANT), ("clinic-b", EMPTY)):
        report = json.loads((run / name / "report.json").read_text(encoding="utf-8"))
        assert report["target"]["account"] == account
        assert verify_bundle(run / name).intact
        assert clients[name]["summary"] == report["summary"]
        assert clients[name]["previous"] is None and clients[name]["changes"] == []
    # The compliant account fails only what moto cannot show (the root user's MFA); the empty one fails much.
    assert clients["clinic-a"]["failing_controls"] == ["iam-root-mfa", "iam-root-hardware-mfa"]
    assert clients["clinic-a"]["worst_severity"] == "critical"
    assert "net-flow-logs" in clients["clinic-b"]["failing_controls"]
    assert clients["clinic-b"]["summary"][Status.FAIL.value] > 5
    assert document["totals"] == {
        "clients": 3, "clean": 0, "failed": 2, "incomplete": 2, "unreachable": 1, "previous_not_trusted": 0,
        "changed": 0,
    }  # fmt: skip
    # Both audited accounts have controls moto cannot answer (ERROR): each says so, and neither counts as clean.
    for name in ("clinic-a", "clinic-b"):
        errors = clients[name]["summary"]["ERROR"]
        assert clients[name]["unjudged"] == errors > 0
        assert clients[name]["reason"] == f"incomplete: {errors} controls could not be judged"
    html = (run / "fleet.html").read_text(encoding="utf-8")
    assert "cannot be assumed" in html and 'href="clinic-a/report.html"' in html
    # The whole run is one signed folder.
    assert verify_bundle(run).intact


def test_a_second_run_shows_drift_and_refuses_a_tampered_or_foreign_previous_bundle(
    aws: boto3.Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = build_compliant(assumed(aws, COMPLIANT))
    fleet = write_fleet(tmp_path, [client_entry("clinic-a", COMPLIANT), client_entry("clinic-b", EMPTY)])
    out = tmp_path / "runs"
    first_code, first, first_run = run_fleet(fleet, out, capsys)
    assert first_code == 4  # moto leaves some controls unjudged (ERROR) in every account: incomplete
    # Between the runs: someone attaches an internet gateway in clinic-a, and edits clinic-b's report.
    ec2 = acct.client("ec2")
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=acct.vpc_id)
    edited = first_run / "clinic-b" / "report.json"
    report = json.loads(edited.read_text(encoding="utf-8"))
    report["summary"]["FAIL"] = 0
    edited.write_text(json.dumps(report), encoding="utf-8")
    time.sleep(1.1)  # the run folders are named by the second

    code, second, _ = run_fleet(fleet, out, capsys)

    assert code == 4
    clients = by_name(second)
    a, b = clients["clinic-a"], clients["clinic-b"]
    assert a["previous"]["trusted"] and a["previous"]["bundle"] == str(first_run / "clinic-a")
    assert {"control": "net-no-internet-gateway", "before": "PASS", "after": "FAIL"} in a["changes"]
    assert all(change["after"] != change["before"] for change in a["changes"])
    assert not b["previous"]["trusted"] and b["changes"] == []
    assert b["previous"]["problems"] == ["report.json: SHA-256 differs from the manifest (changed after signing)."]
    assert second["totals"]["previous_not_trusted"] == 1 and second["totals"]["changed"] == 1

    # A third run signed with another key does not trust bundles the client's key signed, and says whose they are.
    time.sleep(1.1)
    other_key = tmp_path / "other.pem"
    _, third, _ = run_fleet(fleet, out, capsys, "--signing-key", str(other_key))
    a3 = by_name(third)["clinic-a"]
    assert not a3["previous"]["trusted"] and a3["changes"] == []
    assert "not by this client's key" in a3["previous"]["problems"][0]


def test_no_account_sees_two_clients_at_once_and_no_more_accounts_run_than_allowed(tmp_path: Path) -> None:
    clients = [
        Client(f"c{i}", account, (region,), role(account), "ext-id")
        for i, (account, region) in enumerate(
            [
                (a, r)
                for a in ("111111111111", "222222222222", "333333333333", "444444444444")
                for r in ("us-east-1", "eu-west-1")
            ]
        )
    ]
    lock = threading.Lock()
    active: dict[str, int] = {}
    peaks = {"accounts": 0, "per_account": 0}

    def audit(prepared: Prepared, run: Path, previous: Path | None) -> Outcome:
        account = prepared.client.account
        with lock:
            active[account] = active.get(account, 0) + 1
            peaks["per_account"] = max(peaks["per_account"], active[account])
            peaks["accounts"] = max(peaks["accounts"], sum(1 for n in active.values() if n))
        time.sleep(0.05)
        with lock:
            active[account] -= 1
        return Outcome(prepared.client, "clean")

    fleet = Fleet(boto3.Session(region_name=REGION), None, workers=2, max_attempts=1, pdf=False)
    fleet.audit = audit  # type: ignore[method-assign]
    outcomes = fleet.run([Prepared(c, None, [], None) for c in clients], tmp_path, 2, None)
    assert [o.client.name for o in outcomes] == [c.name for c in clients]  # the fleet file's order
    assert peaks == {"accounts": 2, "per_account": 1}


BadFleet = Callable[[Path], Any]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"client": []}, "a single key, clients"),
        ({"clients": []}, "clients: is not a non-empty list"),
        ({"clients": [client_entry("clinic-a", "11111111111")]}, "client clinic-a.account: is not a 12-digit"),
        ({"clients": [client_entry("clinic-a", 111111111111)]}, "write it in quotes"),
        ({"clients": [client_entry("clinic-a", COMPLIANT, role_arn=role(EMPTY))]}, "is a role in account 2222"),
        ({"clients": [client_entry("clinic-a", COMPLIANT, external_id="x")]}, "clinic-a.external_id: is not 2-1224"),
        ({"clients": [client_entry("clinic-a", COMPLIANT, regions=["us-esat-1"])]}, "did you mean us-east-1?"),
        ({"clients": [client_entry("clinic-a", COMPLIANT, role="x")]}, "clinic-a.role: unknown field"),
        ({"clients": [client_entry("Clinic A", COMPLIANT)]}, "clients[0].name: is not a slug"),
        ({"clients": [client_entry("clinic-a", COMPLIANT), client_entry("clinic-a", EMPTY)]}, "listed twice"),
        ({"clients": [client_entry("clinic-a", COMPLIANT, stack="missing.yaml")]}, "clinic-a.stack: "),
        ({"clients": [{k: v for k, v in client_entry("clinic-a", COMPLIANT).items() if k != "external_id"}]},
         "clinic-a.external_id: is required"),
    ],
)  # fmt: skip
def test_a_fleet_file_mistake_is_one_line_and_exit_2_before_any_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict[str, Any], message: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    out = tmp_path / "runs"
    assert main(["fleet", "audit", str(path), "--out", str(out), "--endpoint-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(path) in err
    assert not out.exists()  # nothing created


def test_a_stack_file_for_another_account_is_refused_before_any_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], example_raw: dict[str, str]
) -> None:
    stack = Path(__file__).resolve().parents[2] / "Pulumi.example.yaml"
    path = write_fleet(tmp_path, [client_entry("clinic-a", COMPLIANT, stack=str(stack))])
    assert main(["fleet", "audit", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"is for account {example_raw['phistack:account_id']}, not {COMPLIANT}" in err
    assert not (tmp_path / "runs").exists()


def test_the_fleets_exit_code_puts_unreached_then_unjudged_before_failed() -> None:
    """3 a client not reached; else 4 a client with a control not judged (even one that also failed); else 1 a
    failed control or an untrusted previous bundle; 0 only when every client is clean."""
    from phistack.fleet import Outcome, fleet_exit_code
    from phistack.fleet_file import Client

    def one(outcome: str, unjudged: int = 0, trusted: bool = True) -> Outcome:
        client = Client("c", COMPLIANT, ("us-east-1",), role(COMPLIANT), "ext")
        return Outcome(client, outcome, unjudged=unjudged, previous=None if trusted else {"trusted": False})

    assert fleet_exit_code([one("clean"), one("clean")]) == 0
    assert fleet_exit_code([one("clean"), one("failed")]) == 1
    assert fleet_exit_code([one("clean", trusted=False)]) == 1
    assert fleet_exit_code([one("failed"), one("incomplete", unjudged=2)]) == 4
    assert fleet_exit_code([one("failed", unjudged=1)]) == 4
    assert fleet_exit_code([one("incomplete", unjudged=1), one("unreachable")]) == 3
