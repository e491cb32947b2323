"""The README's fleet and export examples, run as written (on moto, in-process): the fleet file is the
README's, and each `phistack` line of its command blocks runs with only <RUN> filled in."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import boto3
import pytest

from phistack.cli import main
from tests.conftest import ROOT


def readme_block(name: str) -> str:
    """The fenced block right after ``<!-- example: NAME -->`` in the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    assert found, f"README has no example block {name!r}"
    return found[1]


def commands(name: str) -> list[list[str]]:
    lines = [shlex.split(line, comments=True) for line in readme_block(name).splitlines()]
    argvs = [argv for argv in lines if argv]
    assert argvs and all(argv[0] == "phistack" for argv in argvs)
    return [argv[1:] for argv in argvs]


def _run(argv: list[str], runs: Path) -> int:
    latest = max((p.name for p in runs.iterdir() if p.is_dir()), default="") if runs.is_dir() else ""
    return main([arg.replace("<RUN>", latest) for arg in argv])


def test_the_readme_fleet_and_export_examples_run_as_written(
    aws: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fleet.yaml").write_text(readme_block("fleet-file"), encoding="utf-8")
    shutil.copy(ROOT / "Pulumi.example.yaml", tmp_path)
    (tmp_path / "credentials").write_text("[auditor]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    (tmp_path / "config").write_text(
        "[profile auditor]\nregion = us-east-1\n\n[profile example-clinic-audit]\nregion = us-east-1\n"
        "role_arn = arn:aws:iam::111122223333:role/phistack-audit\nsource_profile = auditor\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("PHISTACK_KEY_DIR", str(tmp_path / "keys"))
    runs = tmp_path / "audits"

    codes = [_run(argv, runs) for argv in commands("fleet-commands")]
    # Two empty accounts fail many controls, and moto leaves some unjudged: incomplete (exit 4, twice); the run
    # folder verifies (0).
    assert codes == [4, 4, 0], capsys.readouterr()
    first, second = sorted(p for p in runs.iterdir() if p.is_dir())
    document = json.loads((second / "fleet.json").read_text(encoding="utf-8"))
    clients = {c["name"]: c for c in document["clients"]}
    assert set(clients) == {"example-clinic", "riverside"}
    assert all(c["outcome"] == "failed" for c in clients.values())
    assert clients["riverside"]["regions"] == ["us-east-1", "us-west-2"]
    for client in clients.values():  # the second run compared with the first, trusted, and nothing moved
        assert client["previous"]["trusted"] and first.name in client["previous"]["bundle"]
        assert client["changes"] == []

    codes = [_run(argv, runs) for argv in commands("export-commands")]
    assert codes == [0, 0, 0], capsys.readouterr()
    asff = json.loads((tmp_path / "example-clinic.asff.json").read_text(encoding="utf-8"))
    ocsf = json.loads((tmp_path / "example-clinic.ocsf.json").read_text(encoding="utf-8"))
    assert {f["AwsAccountId"] for f in asff} == {"111122223333"}
    assert ocsf and {e["compliance"]["status_id"] for e in ocsf} <= {2, 3}  # failing only: Fail or Warning
    creds = aws.client("sts").assume_role(
        RoleArn="arn:aws:iam::111122223333:role/phistack-audit", RoleSessionName="check"
    )["Credentials"]
    hub = boto3.client(
        "securityhub",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    imported = [f for page in hub.get_paginator("get_findings").paginate() for f in page["Findings"]]
    assert sorted(f["Id"] for f in imported) == sorted(f["Id"] for f in asff)


def test_the_readme_cost_examples_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    argvs = [[str(tmp_path / a) if a == "plan.json" else a for a in argv] for argv in commands("cost-commands")]
    outputs = []
    for argv in argvs:
        assert main(argv) == 0
        outputs.append(capsys.readouterr().out)
    table, as_json, plan = outputs
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    total = re.search(r"\| \*\*total\*\* \| \| \*\*([\d,.]+)\*\* \|", readme)
    assert total and f"${total[1]}" in table and f"estimated monthly cost: ${total[1]} " in plan
    ten_hours = re.search(r"At 10 hours a day the GPU host costs ([\d,.]+) and the total is ([\d,.]+)\.", readme)
    document = json.loads(as_json)
    ec2 = next(line for line in document["lines"] if line["service"] == "EC2")
    assert ten_hours and (ec2["monthly_low"], document["monthly_low"]) == (
        float(ten_hours[1].replace(",", "")),
        float(ten_hours[2].replace(",", "")),
    )
    assert (tmp_path / "plan.json").exists()
