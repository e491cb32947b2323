"""Reports rendered from fixed report.json content: structure (not byte snapshots), JUnit parsed back, the
PDF's pages, and the signed bundle against every kind of tampering."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compliance.assessment import write_report
from compliance.errors import InputError
from compliance.reports.bundle import load_or_create_key, public_pem, sign_bundle, verify_bundle
from compliance.reports.diff import diff_reports
from compliance.reports.html import render_html
from compliance.reports.junit import render_junit
from compliance.reports.pdf import WarmChromium, find_chromium, render_pdf
from compliance.reports.write import render_all, write_bundle


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.badges: list[str] = []
        self.external: list[str] = []
        self.svg_rects = 0
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "article" and a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "span" and "badge" in (a.get("class") or ""):
            self.badges.append(str(a["class"]).split()[1])
        for attr in ("src", "href"):
            if a.get(attr) and not str(a[attr]).startswith("#"):
                self.external.append(str(a[attr]))
        self.svg_rects += tag == "rect"
        self.scripts += tag == "script"


def test_html_is_self_contained_and_complete(mixed_report: tuple[dict[str, Any], Any]) -> None:
    report, _ = mixed_report
    html = render_html(report)
    page = _Structure()
    page.feed(html)
    assert page.ids == [c["id"] for c in report["controls"]]
    assert page.external == [] and page.scripts == 0
    assert page.svg_rects >= 4  # one bar segment at least per HIPAA section
    control_badges = page.badges[: len(page.badges)]
    for status, count in report["summary"].items():
        assert control_badges.count(status) >= count
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "HSM-backed, rotated by hand." in html and "ciso@clinic.example" in html  # waiver shown
    assert "Training records" in html  # manual control: what to ask for
    assert "164.312(b) Audit controls" in html  # paragraph titles beside citations
    first_page = html.split('class="first-page"')[1].split("</section>")[0]
    assert report["target"]["account"] in first_page and report["generated_at"] in first_page
    assert "phistack test" in first_page


def test_junit_parses_back_with_one_case_per_control(mixed_report: tuple[dict[str, Any], Any]) -> None:
    report, _ = mixed_report
    suite = ET.fromstring(render_junit(report))
    cases = suite.findall("testcase")
    assert len(cases) == len(report["controls"]) == int(suite.attrib["tests"])
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(failures) == report["summary"]["FAIL"] == int(suite.attrib["failures"])
    assert len(errors) == report["summary"]["ERROR"] == int(suite.attrib["errors"])
    assert len(skipped) == report["summary"]["MANUAL"] + report["summary"]["NOT_APPLICABLE"]
    versioning = next(c for c in failures if c.attrib["name"].startswith("s3-versioning"))
    assert "Remediation:" in (versioning.find("failure").text or "")  # type: ignore[union-attr]
    waived = next(c for c in cases if c.attrib["name"].startswith("kms-rotation"))
    assert "HSM-backed" in (waived.find("system-out").text or "")  # type: ignore[union-attr]


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (CI installs it)")
def test_pdf_is_printed_with_pages(mixed_report: tuple[dict[str, Any], Any], tmp_path: Path) -> None:
    from pypdf import PdfReader

    report, _ = mixed_report
    html = tmp_path / "report.html"
    html.write_text(render_html(report))
    pdf = tmp_path / "report.pdf"
    render_pdf(html, pdf, str(find_chromium()))
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 10  # a first page, then 60 controls with their findings
    first = reader.pages[0].extract_text()
    assert "HIPAA Security Rule assessment" in first and report["target"]["account"] in first


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (CI installs it)")
def test_a_chromium_started_before_the_page_exists_prints_the_same_pdf(
    mixed_report: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    """The audit starts Chromium while it collects facts and prints over the DevTools pipe once report.html is
    written: the same pages and text as a Chromium started for the page."""
    from pypdf import PdfReader

    report, _ = mixed_report
    html = tmp_path / "report.html"
    with WarmChromium(str(find_chromium())) as printer:
        html.write_text(render_html(report))  # the page is written after Chromium started
        printer.print_pdf(html, tmp_path / "warm.pdf")
    render_pdf(html, tmp_path / "cold.pdf", str(find_chromium()))
    warm, cold = PdfReader(tmp_path / "warm.pdf"), PdfReader(tmp_path / "cold.pdf")
    assert len(warm.pages) == len(cold.pages) >= 10
    assert [p.extract_text() for p in warm.pages] == [p.extract_text() for p in cold.pages]


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (CI installs it)")
def test_a_warm_chromium_that_died_is_a_clear_error_and_no_pdf(
    mixed_report: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    report, _ = mixed_report
    html = tmp_path / "report.html"
    html.write_text(render_html(report))
    printer = WarmChromium(str(find_chromium()))
    # The failure under test: Chromium gone before the page is printed, the browser and its helpers (its process
    # group), as a crash or an OOM kill leaves it. Killing the started process alone was not that: Debian's
    # /usr/bin/chromium-headless-shell is a shell script that runs the browser as its child, which then lived on
    # and printed the page whenever it had started before the kill (a busy machine: a failure in CI's lanes).
    os.killpg(printer._process.pid, signal.SIGKILL)  # noqa: SLF001
    printer._process.wait()  # noqa: SLF001
    warnings = render_all(report, tmp_path, pdf=True, printer=printer)
    printer.close()
    assert not (tmp_path / "report.pdf").exists()
    assert len(warnings) == 1 and warnings[0].startswith("report.pdf not written: Chromium")


@pytest.fixture
def bundle(mixed_report: tuple[dict[str, Any], Any], tmp_path: Path) -> tuple[Path, Path]:
    _, assessment = mixed_report
    folder = tmp_path / "bundle"
    report = write_report(assessment, folder)
    key_path = tmp_path / "keys" / "client.ed25519.pem"
    write_bundle(report, assessment.facts, load_or_create_key(key_path), pdf=False)
    trusted = tmp_path / "trusted.pub.pem"
    trusted.write_bytes((folder / "signing-key.pub.pem").read_bytes())
    return folder, trusted


def test_intact_bundle_verifies_with_the_trusted_key(bundle: tuple[Path, Path]) -> None:
    folder, trusted = bundle
    result = verify_bundle(folder, trusted)
    assert result.intact and result.trusted_key and result.key_fingerprint.startswith("SHA256:")
    listed = json.loads((folder / "manifest.json").read_text())["files"]
    assert {"report.json", "report.html", "junit.xml", "evidence/buckets.json", "evidence/gaps.json"} <= set(listed)


def test_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "k" / "x.ed25519.pem"
    first = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_pem(load_or_create_key(path).public_key()) == public_pem(first.public_key())
    path.write_text("not a key")
    with pytest.raises(InputError, match="not an unencrypted PEM private key"):
        load_or_create_key(path)


def _bundle_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_changed_byte_in_any_file_is_caught(bundle: tuple[Path, Path]) -> None:
    folder, trusted = bundle
    files = _bundle_files(folder)
    assert len(files) > 20
    for rel in files:
        target = folder / rel
        original = target.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        result = verify_bundle(folder, trusted)
        assert not result.intact, rel
        assert any(rel in p for p in result.problems), (rel, result.problems)  # the problem names the file
        target.write_bytes(original)
    assert verify_bundle(folder, trusted).intact


def test_removed_and_added_files_are_caught(bundle: tuple[Path, Path]) -> None:
    folder, trusted = bundle
    (folder / "evidence" / "buckets.json").unlink()
    assert verify_bundle(folder, trusted).problems == ["evidence/buckets.json: listed in the manifest but missing."]
    folder2 = folder.parent / "b2"
    shutil.copytree(folder, folder2)
    (folder / "evidence" / "buckets.json").write_text("[]")  # restore a file, any content: still wrong
    (folder2 / "extra.txt").write_text("slipped in")
    problems = verify_bundle(folder2, trusted).problems
    assert "extra.txt: not in the manifest (added after signing)." in problems


def test_a_bundle_resigned_with_another_key_fails_against_the_trusted_key(bundle: tuple[Path, Path]) -> None:
    folder, trusted = bundle
    (folder / "report.json").write_text((folder / "report.json").read_text().replace('"FAIL"', '"PASS"'))
    sign_bundle(folder, Ed25519PrivateKey.generate())  # the forger re-signs with their own key
    assert verify_bundle(folder).intact  # consistent with the key inside: why --public-key matters
    problems = verify_bundle(folder, trusted).problems
    assert problems and problems[0] == f"signing-key.pub.pem: is not the public key given ({trusted})."
    assert any(p.startswith("manifest.sig: does not verify") for p in problems)


def test_truncated_or_garbled_signature_fails(bundle: tuple[Path, Path]) -> None:
    folder, trusted = bundle
    sig = (folder / "manifest.sig").read_text().strip()
    (folder / "manifest.sig").write_text(sig[:40] + "\n")
    assert verify_bundle(folder, trusted).problems[0].startswith("manifest.sig: does not verify")
    (folder / "manifest.sig").write_text(base64.b64encode(b"\x00" * 64).decode())
    assert verify_bundle(folder, trusted).problems[0].startswith("manifest.sig: does not verify")
    (folder / "manifest.sig").unlink()
    assert verify_bundle(folder, trusted).problems[0] == "manifest.sig: missing."


def test_not_a_bundle_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no manifest.json"):
        verify_bundle(tmp_path)
    with pytest.raises(InputError, match="is not a directory"):
        verify_bundle(tmp_path / "nope")


def test_diff_names_what_moved() -> None:
    def report(controls: list[tuple[str, str, list[tuple[str, str]]]]) -> dict[str, Any]:
        return {
            "controls": [
                {"id": cid, "status": st, "findings": [{"resource_id": r, "status": fs} for r, fs in fs_]}
                for cid, st, fs_ in controls
            ]
        }

    old = report(
        [("s3-versioning", "PASS", [("b1", "PASS"), ("b2", "PASS")]), ("kms-rotation", "FAIL", [("k1", "FAIL")])]
    )
    new = report(
        [
            ("s3-versioning", "FAIL", [("b1", "PASS"), ("b2", "FAIL"), ("b3", "PASS")]),
            ("kms-rotation", "PASS", [("k1", "PASS")]),
            ("logs-kms", "PASS", []),
        ]
    )
    lines = diff_reports(old, new)
    assert lines[0] == "control s3-versioning: PASS -> FAIL"
    assert "  s3-versioning b2: PASS -> FAIL" in lines and "control kms-rotation: FAIL -> PASS" in lines
    assert (
        "  s3-versioning b3: new resource, PASS" in lines and "control logs-kms: new in this assessment, PASS" in lines
    )
    assert diff_reports(old, old) == []


def _validate_oscal(document: dict[str, Any]) -> Any:
    from trestle.oscal.assessment_results import AssessmentResults

    return AssessmentResults.model_validate(document["assessment-results"])


def test_oscal_is_valid_and_links_findings_to_hipaa(mixed_report: tuple[dict[str, Any], Any]) -> None:
    from compliance.reports.oscal import render_oscal, token

    report, _ = mixed_report
    document = render_oscal(report)
    results = _validate_oscal(document).results[0]
    citations = {c for control in report["controls"] for c in control["hipaa"]}
    assert {f.target.target_id for f in results.findings} == {token(c) for c in citations}
    assert token("164.312(e)(2)(ii)") == "hipaa-164.312-e-2-ii"
    versioning = [f for f in results.findings if any(p.value == "s3-versioning" for p in f.props or [])]
    assert versioning and all(f.target.status.state.value == "not-satisfied" for f in versioning)
    errors = [f for f in results.findings if any(p.name == "phistack-status" and p.value == "ERROR" for p in f.props)]
    assert errors and all(f.target.status.state.value == "not-satisfied" for f in errors)  # unknown is not satisfied
    assert len(results.observations) == sum(len(c["findings"]) for c in report["controls"])
    assert render_oscal(report) == document  # deterministic: re-rendering gives the same file


def test_oscal_validation_is_real(mixed_report: tuple[dict[str, Any], Any]) -> None:
    import pydantic

    from compliance.reports.oscal import render_oscal

    broken = render_oscal(mixed_report[0])
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["target-id"] = "164.312(b)"  # not a token
    with pytest.raises(pydantic.ValidationError):
        _validate_oscal(broken)


def test_kms_signed_bundle_verifies_and_detects_tampering(
    mixed_report: tuple[dict[str, Any], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto import mock_aws

    from compliance.reports.bundle import KmsSigner

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    _, assessment = mixed_report
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/phistack-signing", TargetKeyId=key_id)
        folder = tmp_path / "kms-bundle"
        write_bundle(
            write_report(assessment, folder), assessment.facts, KmsSigner(kms, "alias/phistack-signing"), pdf=False
        )
        trusted = tmp_path / "kms.pub.pem"
        trusted.write_bytes((folder / "signing-key.pub.pem").read_bytes())
        assert verify_bundle(folder, trusted).intact
        (folder / "report.json").write_text((folder / "report.json").read_text() + " ")
        assert verify_bundle(folder, trusted).problems == [
            "report.json: SHA-256 differs from the manifest (changed after signing)."
        ]
        sign_bundle(folder, Ed25519PrivateKey.generate())  # re-signed by someone else: caught against the KMS key
        assert not verify_bundle(folder, trusted).intact
        symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
        with pytest.raises(InputError, match="ECC_NIST_P256 SIGN_VERIFY"):
            KmsSigner(kms, symmetric)
