"""`phistack bundle build`: assemble the offline install bundle in a folder, then write its manifest.

It holds the Debian packages the roles install (resolved on a pristine image of the hosts' OS, Debian 13), the
wheels of the gateway and of the engine for the hosts' Python (resolved on the same image), and the model weights
the engineer downloaded (under the model's licence) to a local path."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from infra.errors import BundleError
from infra.hosts.bundle import debs, wheels
from infra.hosts.bundle.image import SUITE, debootstrap
from infra.hosts.bundle.manifest import write

# What each role installs from the bundle's apt repository (Debian 13 names).
ROLE_PACKAGES: dict[str, tuple[str, ...]] = {
    "base": ("python3-apt", "auditd", "systemd-timesyncd", "openssl", "ca-certificates"),
    "vector_store": (
        "postgresql-17",
        "postgresql-17-pgvector",
        "postgresql-17-pgaudit",
        "ssl-cert",
        "python3-psycopg2",
        "barman-cli-cloud",  # phistack-db-archive: WAL archiving and base backups to S3, point-in-time restore
    ),
    "llm_server": (
        "python3-venv",
        "python3-packaging",
        "libgomp1",
        # NVIDIA's driver for a headless host, and the cloud kernel it is built for (image and headers, one version).
        "linux-image-cloud-amd64",
        "linux-headers-cloud-amd64",
        "nvidia-open-kernel-dkms",
        "firmware-nvidia-gsp",
        "nvidia-smi",
        "libcuda1",
        "libnvidia-cfg1",
        "dkms",
        "openssl",
    ),
    "rag_gateway": wheels.GATEWAY_DEBS,
}
PYTHON_ROLES = ("llm_server", "rag_gateway")  # roles that install wheels into a virtual environment


@dataclass(frozen=True)
class Python:
    """The Python side of the bundle: the checkout the gateway is built from, the engine, the model weights."""

    source: Path
    engine: str
    model: Path | None
    wheelhouse: Path


@dataclass(frozen=True)
class Built:
    root: Path
    files: int
    manifest_sha256: str


def build(
    out: Path,
    client: str,
    version: str,
    image_cache: Path,
    roles: tuple[str, ...] = tuple(ROLE_PACKAGES),
    python: Python | None = None,
    extra_debs: tuple[Path, ...] = (),
    rds_ca: Path | None = None,
) -> Built:
    """Build into out (which must not exist yet, or be empty): nothing half-made is left on failure."""
    unknown = sorted(set(roles) - set(ROLE_PACKAGES))
    if unknown:
        raise BundleError(f"role {unknown[0]!r} has no bundle content; known: {', '.join(ROLE_PACKAGES)}.")
    if python is None and set(roles) & set(PYTHON_ROLES):
        raise BundleError(f"roles {', '.join(PYTHON_ROLES)} need the gateway's source, an engine and a model.")
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out}: not empty; give a new folder for the bundle.")
    rds_ca_pem = read_ca_bundle(rds_ca) if rds_ca else None  # checked before minutes of building
    image = debootstrap(image_cache / SUITE)
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    try:
        packages = sorted({p for role in roles for p in ROLE_PACKAGES[role]})
        debs.download(image, packages, work / "debs")
        for deb in extra_debs:  # e.g. amazon-cloudwatch-agent.deb, downloaded by the engineer from AWS
            if deb.suffix != ".deb" or not deb.is_file():
                raise BundleError(f"--deb: {deb} is not a .deb file.")
            shutil.copy2(deb, work / "debs" / deb.name)
        debs.index(work / "debs")
        if rds_ca_pem is not None:  # the gateways verify Aurora's certificate against it (sslmode=verify-full)
            (work / "tls").mkdir()
            (work / "tls" / RDS_CA_NAME).write_bytes(rds_ca_pem)
        if python is not None:
            wheels.collect(image, work / "wheels", python.source, python.engine, python.wheelhouse)
            if python.model is not None:
                wheels.add_model(work / "models", python.model)
        manifest, digest = write(work, client, version)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    work.rename(out)
    return Built(out, len(manifest.entries), digest)


RDS_CA_NAME = "rds-ca.pem"  # in the bundle's tls/ folder; the rag_gateway role installs it
MAX_CA_BUNDLE_BYTES = 1_000_000  # AWS's global bundle is about 160 kB


def read_ca_bundle(path: Path) -> bytes:
    """AWS's RDS CA bundle as the engineer downloaded it (truststore.pki.rds.amazonaws.com, global or the region's):
    PEM certificates, each a CA. Refused in one line when it is anything else."""
    from cryptography import x509

    try:
        if path.stat().st_size > MAX_CA_BUNDLE_BYTES:
            raise BundleError(f"--rds-ca: {path} is over {MAX_CA_BUNDLE_BYTES} bytes; not a CA bundle.")
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"--rds-ca: {path}: {exc.strerror or exc.__class__.__name__}.") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise BundleError(f"--rds-ca: {path} holds no PEM certificates.") from None
    for cert in certs:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise BundleError(
                f"--rds-ca: {path} holds a certificate that is not a CA ({cert.subject.rfc4514_string()})."
            )
    return data
