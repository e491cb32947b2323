"""The client's private CA: made once, kept SSE-KMS in the artifact bucket, never replaced; certificates that
real TLS stacks accept for the names given, and only for the usages given."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID
from moto import mock_aws

from infra.errors import CAError
from infra.hosts import ca


def _files(tmp_path: Path, name: str, issued: ca.Issued) -> tuple[str, str, str]:
    key, cert, root = tmp_path / f"{name}.key", tmp_path / f"{name}.crt", tmp_path / "ca.crt"
    key.write_text(issued.key_pem)
    cert.write_text(issued.cert_pem)
    root.write_text(issued.ca_pem)
    return str(cert), str(key), str(root)


def test_certificates_verify_by_name_and_mutual_tls_needs_a_client_usage(tmp_path: Path) -> None:
    authority = ca.new_ca("clinic-a")
    server = ca.issue(authority, "engine@host", ["localhost"], ["127.0.0.1"], ["server"])
    client = ca.issue(authority, "gateway@host", ["localhost"], [], ["server", "client"])
    server_only = ca.issue(authority, "postgresql@host", ["localhost"], [], ["server"])
    cert = x509.load_pem_x509_certificate(client.cert_pem.encode())
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= ca.CERT_DAYS

    s_cert, s_key, root = _files(tmp_path, "engine", server)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=root)
    context.load_cert_chain(s_cert, s_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.2: the client certificate is checked in the handshake
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(3):
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()

    def connect(identity: ca.Issued | None, host: str = "127.0.0.1") -> bytes:
        client_context = ssl.create_default_context(cafile=root)
        if identity is not None:
            client_context.load_cert_chain(*_files(tmp_path, "peer", identity)[:2])
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_context.wrap_socket(raw, server_hostname=host) as tls:
                return tls.recv(2)

    assert connect(client) == b"ok"
    with pytest.raises(ssl.SSLError):
        connect(None)  # no client certificate
    with pytest.raises(ssl.SSLError):
        connect(server_only)  # a certificate from the same CA, but not for client authentication
    listener.close()


def test_a_certificate_chains_to_its_own_clients_ca_only() -> None:
    mine, theirs = ca.new_ca("clinic-a"), ca.new_ca("clinic-b")
    cert = x509.load_pem_x509_certificate(ca.issue(theirs, "x", ["localhost"], [], ["server"]).cert_pem.encode())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(theirs.cert_pem.encode()))
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(mine.cert_pem.encode()))


def test_requests_that_cannot_be_checked_are_refused() -> None:
    authority = ca.new_ca("clinic-a")
    with pytest.raises(CAError, match="--ip: 'not-an-ip'"):
        ca.issue(authority, "x", [], ["not-an-ip"], ["server"])
    with pytest.raises(CAError, match="at least one name"):
        ca.issue(authority, "x", [], [], ["server"])
    with pytest.raises(CAError, match="--usage: 'signing'"):
        ca.issue(authority, "x", ["h"], [], ["signing"])


@mock_aws
def test_the_ca_is_kept_encrypted_with_the_stack_key_and_never_replaced() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(CAError, match="no CA for 'clinic-a'; run `phistack ca init` first"):
        ca.load(s3, "artifacts", "clinic-a")
    made = ca.new_ca("clinic-a")
    ca.store(s3, "artifacts", key, "clinic-a", made)
    head = s3.head_object(Bucket="artifacts", Key="pki/clinic-a/ca.key")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
    assert ca.load(s3, "artifacts", "clinic-a") == made
    with pytest.raises(CAError, match="already has a CA; it is never replaced"):
        ca.store(s3, "artifacts", key, "clinic-a", ca.new_ca("clinic-a"))
    assert ca.load(s3, "artifacts", "clinic-a") == made


def test_cli_init_then_issue(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.sandbox.server import moto_server
    from phistack.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_server() as url:
        boto3.client("s3", region_name="us-east-1", endpoint_url=url).create_bucket(Bucket="artifacts")
        key = boto3.client("kms", region_name="us-east-1", endpoint_url=url).create_key()["KeyMetadata"]["Arn"]
        aws = ["--client", "clinic-a", "--bucket", "artifacts", "--region", "us-east-1", "--endpoint-url", url]
        assert main(["ca", "issue", "--name", "x", "--dns", "h", *aws]) == 2
        assert "run `phistack ca init` first" in capsys.readouterr().err
        assert main(["ca", "init", "--kms-key", key, *aws]) == 0
        assert json.loads(capsys.readouterr().out) == {"ca": "s3://artifacts/pki/clinic-a/ca.crt"}
        assert main(["ca", "init", "--kms-key", key, *aws]) == 2
        assert "never replaced" in capsys.readouterr().err
        assert (
            main(["ca", "issue", "--name", "gw", "--dns", "h", "--ip", "10.0.1.5", "--usage", "server,client", *aws])
            == 0
        )
        issued = json.loads(capsys.readouterr().out)
        assert set(issued) == {"key", "cert", "ca"} and "PRIVATE KEY" in issued["key"]
        assert main(["ca", "issue", "--name", "gw", "--ip", "10.0.1", *aws]) == 2
        assert "--ip: '10.0.1' is not an IP address" in capsys.readouterr().err
