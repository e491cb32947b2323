"""The client's private CA: TLS between the gateway, the engine and PostgreSQL, with no public CA involved.

One CA per client (ECDSA P-384, ten years, path length 0), kept in the stack's artifact bucket under
`pki/<client>/` with SSE-KMS under the stack's key, so reading it takes both S3 and KMS permissions, and every
read is in CloudTrail. Certificates are ECDSA P-256, at most 397 days, issued on the Ansible controller for one
service on one host; their private keys go only to that host."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.errors import CAError

CA_DAYS = 3650
CERT_DAYS = 397
USAGES = {"server": (ExtendedKeyUsageOID.SERVER_AUTH,), "client": (ExtendedKeyUsageOID.CLIENT_AUTH,)}


@dataclass(frozen=True)
class Issued:
    key_pem: str
    cert_pem: str
    ca_pem: str

    def to_json(self) -> str:
        return json.dumps({"key": self.key_pem, "cert": self.cert_pem, "ca": self.ca_pem})


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_ca(client: str, now: dt.datetime | None = None) -> Issued:
    """A new CA for client (its certificate stands in for ca_pem and cert_pem)."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phistack"), x509.NameAttribute(NameOID.COMMON_NAME, client)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign only
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return Issued(_pem_key(key), pem, pem)


def _sans(dns: list[str], ips: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise CAError(f"--ip: {ip!r} is not an IP address.") from None
    if not names:
        raise CAError("--dns/--ip: a certificate needs at least one name to be checked against.")
    return names


def issue(ca: Issued, common_name: str, dns: list[str], ips: list[str], usages: list[str]) -> Issued:
    """A certificate and its new private key, for common_name, valid for the given names and usages."""
    unknown = sorted(set(usages) - set(USAGES))
    if unknown or not usages:
        raise CAError(f"--usage: {(unknown or [''])[0]!r} is not one of {', '.join(USAGES)}.")
    try:
        ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
        ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    except ValueError as exc:
        raise CAError(f"the CA in the bucket is unreadable: {exc}") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CAError("the CA key in the bucket is not an ECDSA key.")
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=CERT_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True
        )  # digitalSignature, keyAgreement (ECDHE)
        .add_extension(x509.ExtendedKeyUsage([oid for u in usages for oid in USAGES[u]]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_sans(dns, ips)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(_pem_key(key), cert.public_bytes(serialization.Encoding.PEM).decode(), ca.cert_pem)


def _keys(client: str) -> tuple[str, str]:
    return f"pki/{client}/ca.key", f"pki/{client}/ca.crt"


def store(s3: Any, bucket: str, kms_key: str, client: str, ca: Issued) -> None:
    """Put a new CA in the bucket; refuse to replace one (every issued certificate chains to it)."""
    key_name, cert_name = _keys(client)
    existing = s3.list_objects_v2(Bucket=bucket, Prefix=key_name).get("KeyCount", 0)
    if existing:
        raise CAError(f"s3://{bucket}/{key_name}: the client already has a CA; it is never replaced in place.")
    for name, body in ((cert_name, ca.cert_pem), (key_name, ca.key_pem)):
        s3.put_object(Bucket=bucket, Key=name, Body=body.encode(), ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key)


def load(s3: Any, bucket: str, client: str) -> Issued:
    """The client's CA from the bucket (S3 decrypts it with KMS for a caller allowed both)."""
    key_name, cert_name = _keys(client)
    try:
        key_pem = s3.get_object(Bucket=bucket, Key=key_name)["Body"].read().decode()
        cert_pem = s3.get_object(Bucket=bucket, Key=cert_name)["Body"].read().decode()
    except s3.exceptions.NoSuchKey:
        raise CAError(f"s3://{bucket}/{key_name}: no CA for {client!r}; run `phistack ca init` first.") from None
    return Issued(key_pem, cert_pem, cert_pem)
