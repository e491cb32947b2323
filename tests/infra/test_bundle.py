"""The install bundle's manifest and its upload to the artifact bucket (moto)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import httpx
import pytest
from moto import mock_aws

from infra.errors import BundleError
from infra.hosts.bundle.manifest import NAME, load, verify, write
from infra.hosts.bundle.upload import upload


def bundle(root: Path) -> str:
    (root / "debs").mkdir(parents=True)
    (root / "debs" / "auditd_3.0.9_amd64.deb").write_bytes(b"deb bytes")
    (root / "wheels").mkdir()
    (root / "wheels" / "phistack-0.1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    _, digest = write(root, "clinic-a", "2026.11.24-1")
    return digest


def test_the_manifest_names_every_file_and_catches_each_kind_of_change(tmp_path: Path) -> None:
    digest = bundle(tmp_path)
    manifest = load(tmp_path / NAME, expected_sha256=digest)
    assert [e.path for e in manifest.entries] == [
        "debs/auditd_3.0.9_amd64.deb",
        "wheels/phistack-0.1.0-py3-none-any.whl",
    ]
    assert manifest.entries[0].sha256 == hashlib.sha256(b"deb bytes").hexdigest()
    verify(tmp_path, manifest)
    (tmp_path / "debs" / "auditd_3.0.9_amd64.deb").write_bytes(b"deb bytez")
    with pytest.raises(BundleError, match="auditd_3.0.9_amd64.deb: SHA-256 differs"):
        verify(tmp_path, manifest)
    (tmp_path / "debs" / "auditd_3.0.9_amd64.deb").unlink()
    with pytest.raises(BundleError, match="missing from the bundle"):
        verify(tmp_path, manifest)
    (tmp_path / "debs" / "auditd_3.0.9_amd64.deb").write_bytes(b"deb bytes")
    (tmp_path / "debs" / "extra.deb").write_bytes(b"?")
    with pytest.raises(BundleError, match="extra.deb: in the bundle but not in the manifest"):
        verify(tmp_path, manifest)
    with pytest.raises(BundleError, match="not the one pinned"):
        load(tmp_path / NAME, expected_sha256="0" * 64)
    (tmp_path / "debs" / "extra.deb").unlink()
    (tmp_path / "debs" / "link.deb").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="link.deb: not a regular file"):
        verify(tmp_path, manifest)


@mock_aws
def test_upload_encrypts_with_the_stack_key_skips_what_is_there_and_puts_the_manifest_last(tmp_path: Path) -> None:
    digest = bundle(tmp_path)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    first = upload(s3, tmp_path, "artifacts", key)
    assert (first.sent, first.skipped, first.manifest_sha256) == (2, 0, digest)
    objects = s3.list_objects_v2(Bucket="artifacts")["Contents"]
    assert sorted(o["Key"] for o in objects) == [
        "bundles/clinic-a/2026.11.24-1/debs/auditd_3.0.9_amd64.deb",
        f"bundles/clinic-a/2026.11.24-1/{NAME}",
        "bundles/clinic-a/2026.11.24-1/wheels/phistack-0.1.0-py3-none-any.whl",
    ]
    head = s3.head_object(Bucket="artifacts", Key=f"bundles/clinic-a/2026.11.24-1/{NAME}")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
    again = upload(s3, tmp_path, "artifacts", key)
    assert (again.sent, again.skipped) == (0, 2)
    (tmp_path / "wheels" / "phistack-0.1.0-py3-none-any.whl").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="SHA-256 differs"):
        upload(s3, tmp_path, "artifacts", key)  # nothing is sent from a bundle that does not verify


@mock_aws
def test_presigned_urls_only_for_the_pinned_manifest(tmp_path: Path) -> None:
    from infra.hosts.bundle.presign import presigned, s3_client

    digest = bundle(tmp_path)
    s3 = s3_client(boto3.Session(), "us-east-1")
    s3.create_bucket(Bucket="artifacts")
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    done = upload(s3, tmp_path, "artifacts", key)
    urls = presigned(s3, "artifacts", done.prefix, digest, ttl=300)
    assert [f["path"] for f in urls["files"]] == [
        "debs/auditd_3.0.9_amd64.deb",
        "wheels/phistack-0.1.0-py3-none-any.whl",
    ]
    assert all(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256" in f["url"] and "X-Amz-Expires=300" in f["url"] for f in urls["files"]
    )
    assert urls["files"][0]["sha256"] == hashlib.sha256(b"deb bytes").hexdigest()
    with pytest.raises(BundleError, match="not the pinned manifest"):
        presigned(s3, "artifacts", done.prefix, "f" * 64)
    with pytest.raises(BundleError, match="cannot read the manifest"):
        presigned(s3, "artifacts", "bundles/clinic-a/none", digest)


def test_cli_uploads_and_presigns_against_an_s3_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from infra.sandbox.server import moto_server
    from phistack.cli import main

    digest = bundle(tmp_path / "b")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_server() as url:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=url)
        s3.create_bucket(Bucket="artifacts")
        key = boto3.client("kms", region_name="us-east-1", endpoint_url=url).create_key()["KeyMetadata"]["Arn"]
        aws = ["--bucket", "artifacts", "--region", "us-east-1", "--endpoint-url", url]
        assert main(["bundle", "upload", str(tmp_path / "b"), "--kms-key", key, *aws]) == 0
        uploaded = json.loads(capsys.readouterr().out)
        assert uploaded["manifest_sha256"] == digest and uploaded["sent"] == 2
        assert main(["bundle", "urls", "--prefix", uploaded["prefix"], "--manifest-sha256", digest, *aws]) == 0
        files = json.loads(capsys.readouterr().out)["files"]
        fetched = httpx.get(files[0]["url"])  # what a host does: plain HTTPS GET, no credentials
        assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == files[0]["sha256"]
        assert main(["bundle", "urls", "--prefix", uploaded["prefix"], "--manifest-sha256", "0" * 64, *aws]) == 3
        assert "not the pinned manifest" in capsys.readouterr().err
    assert main(["bundle", "build", "--client", "c", "--out", str(tmp_path / "b")]) == 2  # not empty
    assert main(["bundle", "build", "--client", "c", "--out", str(tmp_path / "x"), "--roles", "nope"]) == 2


@mock_aws
def test_files_over_the_multipart_threshold_go_up_in_checked_parts_and_resume(tmp_path: Path) -> None:
    """70B shards are over 5 GB, more than one PUT carries: above the threshold the managed multipart transfer is
    used (here with an 8 MiB threshold and a 12 MiB shard), each part checksummed; a re-run skips what arrived."""
    (tmp_path / "models" / "llama").mkdir(parents=True)
    shard = tmp_path / "models" / "llama" / "model-00001-of-00002.safetensors"
    shard.write_bytes(bytes(range(256)) * (12 * 4096))  # 12 MiB
    (tmp_path / "models" / "llama" / "config.json").write_text("{}")
    write(tmp_path, "clinic-a", "v1")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    first = upload(s3, tmp_path, "artifacts", key, multipart_threshold=8 * 1024 * 1024)
    assert (first.sent, first.skipped) == (2, 0)
    big = "bundles/clinic-a/v1/models/llama/model-00001-of-00002.safetensors"
    head = s3.head_object(Bucket="artifacts", Key=big)
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
    assert head["Metadata"]["sha256"] == hashlib.sha256(shard.read_bytes()).hexdigest()
    body = s3.get_object(Bucket="artifacts", Key=big)["Body"].read()
    assert body == shard.read_bytes()
    s3.delete_object(Bucket="artifacts", Key="bundles/clinic-a/v1/models/llama/config.json")  # as if cut short
    again = upload(s3, tmp_path, "artifacts", key, multipart_threshold=8 * 1024 * 1024)
    assert (again.sent, again.skipped) == (1, 1)  # only what was missing is sent again


def test_every_package_a_role_installs_is_in_that_roles_part_of_the_bundle() -> None:
    """The hosts have no other apt source: a package a role's apt task names but the bundle lacks would fail the
    install on the host, offline. Read every apt task's names (templated ones from the role's defaults)."""
    import jinja2
    import yaml

    from infra.hosts.bundle.build import ROLE_PACKAGES

    roles = Path(__file__).resolve().parents[2] / "playbooks" / "roles"
    from_the_engineer = {"amazon-cloudwatch-agent"}  # `bundle build --deb`: AWS's package, not Debian's
    checked = 0
    for role, packages in ROLE_PACKAGES.items():
        defaults = yaml.safe_load((roles / role / "defaults" / "main.yml").read_text())
        for tasks in (roles / role / "tasks").glob("*.yml"):
            for task in yaml.safe_load(tasks.read_text()) or []:
                apt = task.get("ansible.builtin.apt")
                if not apt:
                    continue
                names = apt["name"]
                if isinstance(names, str):  # one package, or "{{ a_role_list }}" from the role's defaults
                    names = defaults[names.strip("{} ")] if names.startswith("{{") else [names]
                wanted = [jinja2.Template(n).render(**defaults) for n in names]
                missing = set(wanted) - set(packages) - from_the_engineer
                assert not missing, f"{role}/{tasks.name}: {sorted(missing)} not in the bundle's {role} packages"
                checked += len(wanted)
    assert checked >= 15


def test_the_rds_ca_bundle_is_pem_ca_certificates_or_refused_in_one_line(tmp_path: Path) -> None:
    from infra.hosts.bundle.build import read_ca_bundle
    from infra.hosts.ca import issue, new_ca

    roots = [new_ca(f"rds-{region}").cert_pem for region in ("us-east-1", "us-west-2")]
    bundle = tmp_path / "global-bundle.pem"
    bundle.write_text("".join(roots))
    assert read_ca_bundle(bundle) == bundle.read_bytes()
    leaf = issue(new_ca("x"), "db.example", ["db.example"], [], ["server"]).cert_pem
    cases = {
        "leaf.pem": (roots[0] + leaf, r"holds a certificate that is not a CA \(CN=db.example\)"),
        "html.pem": ("<html>Access denied</html>", "holds no PEM certificates"),
        "big.pem": ("x" * 1_000_001, "is over 1000000 bytes"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(BundleError, match=message) as raised:
            read_ca_bundle(tmp_path / name)
        assert "\n" not in str(raised.value)
    with pytest.raises(BundleError, match="missing.pem: No such file"):
        read_ca_bundle(tmp_path / "missing.pem")
