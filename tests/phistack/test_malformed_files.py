"""A corpus of malformed stack files, waivers files, bundles and output paths, as careless users and hostile
files make them: each is exit 2 with one line naming the file (and the key, where there is one), no traceback,
nothing written, and within bounded time and memory (a FIFO is never waited on; an alias bomb is refused at its
first alias). Issue 14, items 10 and 11."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from phistack.cli import main
from tests.conftest import EXAMPLE

EXAMPLE_TEXT = EXAMPLE.read_text()
TRANSIT = """  phistack:access:
    mode: transit-gateway
    transit_gateway_id: tgw-0123456789abcdef0
    client_cidrs: [10.200.0.0/16, 10.200.0.0/16]
"""


def _edit(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return change


def _append(lines: str) -> Callable[[str], str]:
    return lambda text: text.rstrip("\n") + "\n" + lines


STACK_FILES: dict[str, tuple[Callable[[str], str], str]] = {
    "impossible date": (_edit("baa_aws_signed: 2026-01-15", "baa_aws_signed: 2026-02-30"), "baa_aws_signed"),
    "date-time for a date": (_edit("baa_aws_signed: 2026-01-15", "baa_aws_signed: 2026-01-15T10:30:00"),
                             "baa_aws_signed"),
    "binary tag": (_edit("cost-center: clinical-ai", "cost-center: !!binary aGVsbG8="), "the tag"),
    "set tag": (_append("  phistack:extra: !!set {a: null}\n"), "the tag"),
    "python tag": (_append("  phistack:extra: !!python/object/apply:os.system [id]\n"), "the tag"),
    "non-string key": (_edit("    count: 1", "    1: 1"), "a key must be a plain string"),
    "deep nesting": (_append("  phistack:deep: " + "[" * 200 + "]" * 200 + "\n"), "nested deeper"),
    "alias bomb": (_append("  phistack:a: &a [x, x, x, x, x, x, x, x, x]\n  phistack:b: &b [*a, *a, *a, *a, *a]\n"),
                   "aliases"),
    "duplicate key": (_edit("  phistack:az_count: 2", "  phistack:az_count: 2\n  phistack:az_count: 3"),
                      "'phistack:az_count' appears twice"),
    "region typo": (_edit("aws:region: us-east-1", "aws:region: us-esat-1"), "did you mean us-east-1"),
    "unknown region": (_edit("aws:region: us-east-1", "aws:region: xx-foo-1"), "aws:region = 'xx-foo-1'"),
    "bool count": (_edit("    count: 1", "    count: true"), "count is true, not a number"),
    "client: on": (_edit("phistack:client: example-clinic", "phistack:client: on"), "phistack:client"),
    "duplicate client CIDRs": (lambda text: re.sub(r"  phistack:access:\n    mode: .*\n", TRANSIT, text),
                               "10.200.0.0/16 more than once"),
    "not UTF-8": (lambda text: text + "# \udcff\n", "not UTF-8"),
    "empty": (lambda text: "", "empty"),
}  # fmt: skip


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case", sorted(STACK_FILES))
def test_a_malformed_stack_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    change, expected = STACK_FILES[case]
    stack = tmp_path / "Pulumi.broken.yaml"
    _write(stack, change(EXAMPLE_TEXT))
    out = tmp_path / "plan.json"
    assert main(["plan", "--config", str(stack), "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert str(stack) in line and expected in line, line
    assert not out.exists()


def test_the_unchanged_example_still_plans(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The corpus's base is valid: each case above fails for its own change only."""
    stack = tmp_path / "Pulumi.ok.yaml"
    _write(stack, EXAMPLE_TEXT)
    assert main(["plan", "--config", str(stack), "--out", str(tmp_path / "plan.json")]) == 0


def _special(kind: str, path: Path) -> None:
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_stack_file_that_is_not_a_file_is_refused_without_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    stack = tmp_path / "Pulumi.odd.yaml"
    _special(kind, stack)
    assert main(["plan", "--config", str(stack), "--out", str(tmp_path / "plan.json")]) == 2
    assert str(stack) in _one_line(capsys)


GOOD_WAIVER = {
    "control": "iam-root-mfa",
    "resource": "arn:aws:iam::*:root",
    "justification": "emulated",
    "approver": "ciso@clinic.example",
    "expires": "2099-12-31",
}

WAIVERS: dict[str, tuple[str, str]] = {
    "impossible date": ("expires: 2026-02-30", "is not a date"),
    "date-time": ("expires: 2099-01-01T00:00:00", "is not a date"),
    "blank approver": ("approver: '  '", "approver must be text"),
    "boolean approver": ("approver: true", "approver must be text"),
    "list resource": ("resource: [a, b]", "resource must be text"),
    "binary justification": ("justification: !!binary aGVsbG8=", "the tag"),
}


def _waiver_file(path: Path, replace: str | None = None) -> None:
    fields = dict(GOOD_WAIVER)
    lines = [f"    {k}: {v!r}" if k != "expires" else f"    {k}: {v}" for k, v in fields.items()]
    if replace is not None:
        name = replace.split(":", 1)[0]
        lines = [f"    {replace}" if line.strip().startswith(f"{name}:") else line for line in lines]
    path.write_text("waivers:\n  -\n" + "\n".join(lines) + "\n")


def _audit_with(waivers: Path, tmp_path: Path) -> int:
    # Waivers are read first: a bad file stops the run before any AWS call (the endpoint is never reached).
    out = tmp_path / "audit"
    code = main(["audit", "--waivers", str(waivers), "--endpoint-url", "http://127.0.0.1:9", "--out", str(out)])
    assert not out.exists()
    return code


@pytest.mark.parametrize("case", sorted(WAIVERS))
def test_a_malformed_waiver_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    replace, expected = WAIVERS[case]
    waivers = tmp_path / "waivers.yaml"
    _waiver_file(waivers, replace)
    assert _audit_with(waivers, tmp_path) == 2
    line = _one_line(capsys)
    assert str(waivers) in line and expected in line, line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("waivers:\n  - &w {control: a}\n  - *w\n", "aliases"),
        ("waivers: []\nwaivers: []\n", "appears twice"),
        ("waivers:\n" + "  - " * 1 + "[" * 100 + "]" * 100 + "\n", "nested deeper"),
    ],
)
def test_hostile_waiver_files_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(text)
    assert _audit_with(waivers, tmp_path) == 2
    assert expected in _one_line(capsys)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_waivers_file_that_is_not_a_file_is_refused_without_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    waivers = tmp_path / "waivers.yaml"
    _special(kind, waivers)
    assert _audit_with(waivers, tmp_path) == 2
    assert str(waivers) in _one_line(capsys)


def test_out_paths_that_cannot_be_meant_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = str(EXAMPLE)
    assert main(["plan", "--config", stack, "--out", str(tmp_path)]) == 2
    assert "is a directory" in _one_line(capsys)
    missing = tmp_path / "no-such-folder" / "plan.json"
    assert main(["plan", "--config", stack, "--out", str(missing)]) == 2
    assert "does not exist" in _one_line(capsys)
    assert not missing.parent.exists()  # not created silently
    report = tmp_path / "typo" / "report"
    assert main(["check", "--config", stack, "--out", str(report)]) == 2
    assert "does not exist" in _one_line(capsys) and not report.parent.exists()


def _bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "bundle"
    assert main(["check", "--config", str(EXAMPLE), "--out", str(out), "--no-pdf",
                 "--signing-key", str(tmp_path / "k.pem")]) in (0, 1)  # fmt: skip
    capsys.readouterr()
    return out


def test_bundles_and_keys_that_are_not_files_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = _bundle(tmp_path, capsys)
    assert main(["report", "verify", str(bundle), "--public-key", str(tmp_path)]) == 2
    assert "is a directory" in _one_line(capsys)

    signature = bundle / "manifest.sig"
    saved = signature.read_bytes()
    signature.unlink()
    os.mkfifo(signature)  # would block a plain read forever
    assert main(["report", "verify", str(bundle)]) == 2
    assert "not a regular file" in _one_line(capsys)
    signature.unlink()
    signature.mkdir()
    assert main(["report", "verify", str(bundle)]) == 2
    assert "is a directory" in _one_line(capsys)
    signature.rmdir()
    signature.write_bytes(saved)
    assert main(["report", "verify", str(bundle)]) == 0
    capsys.readouterr()

    manifest = bundle / "manifest.json"
    for files in ("null", "{}", "[]"):
        manifest.write_text(f'{{"files": {files}}}')
        assert main(["report", "verify", str(bundle)]) == 2
        assert "is not a phistack manifest" in _one_line(capsys)


@pytest.mark.parametrize(
    "spec",
    ["argument_specs: [1, 2]\n", "argument_specs:\n  main:\n    options: {a: 1}\n    short_description: x\n",
     "argument_specs:\n  main: &m {short_description: x}\n  other: *m\n", "{"],
)  # fmt: skip
def test_roles_docs_with_a_malformed_spec_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str
) -> None:
    for name, text in (("a_good", "argument_specs:\n  main:\n    short_description: Fine.\n"), ("b_bad", spec)):
        (tmp_path / "playbooks" / "roles" / name / "meta").mkdir(parents=True)
        (tmp_path / "playbooks" / "roles" / name / "meta" / "argument_specs.yml").write_text(text)
    assert main(["roles-docs", "--write", "--project-dir", str(tmp_path)]) == 2
    assert "argument_specs.yml" in _one_line(capsys)
    assert not (tmp_path / "playbooks" / "roles" / "a_good" / "README.md").exists()  # nothing half-written


PLAN_CONTEXTS: dict[str, tuple[object, str]] = {
    "older plan without a context": ("<absent>", "context is missing"),
    "context not a mapping": (["example"], "context is missing"),
    "retention as text": ({"log_retention_days": "2192"}, "context.log_retention_days"),
    "flag as a number": ({"allow_short_log_retention": 1}, "context.allow_short_log_retention"),
    "endpoint not a name": ({"required_endpoints": ["ssm", 7]}, "context.required_endpoints"),
    "attestation not a date": ({"attestations": {"baa_aws_signed": ["2026-01-15"]}}, "context.attestations"),
}


@pytest.mark.parametrize("case", sorted(PLAN_CONTEXTS))
def test_a_plan_files_context_is_checked_before_use(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan file is input too: the context the controls judge against is checked field by field (exit 2)."""
    import json

    plan_path = tmp_path / "plan.json"
    assert main(["plan", "--config", str(EXAMPLE), "--out", str(plan_path)]) == 0
    capsys.readouterr()
    plan = json.loads(plan_path.read_text())
    change, expected = PLAN_CONTEXTS[case]
    if change == "<absent>":
        del plan["context"]
    elif isinstance(change, dict):
        plan["context"].update(change)
    else:
        plan["context"] = change
    plan_path.write_text(json.dumps(plan))
    report = tmp_path / "report"
    assert main(["check", "--plan", str(plan_path), "--out", str(report)]) == 2
    line = _one_line(capsys)
    assert str(plan_path) in line and expected in line
    assert not report.exists()
