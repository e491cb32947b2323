"""`phistack bundle build`: assemble the offline install bundle in a folder, then write its manifest.

Today the bundle holds the Debian packages the roles install (resolved on a pristine image of the hosts' OS) and
pgvector built for its PostgreSQL. The gateway's wheels and the model weights are the next parts (issue 7)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from infra.bundle import debs
from infra.bundle.image import debootstrap, mirror
from infra.bundle.manifest import write
from infra.errors import BundleError

# What each role installs from the bundle's apt repository (Debian 12 names).
ROLE_PACKAGES: dict[str, tuple[str, ...]] = {
    "base": ("python3-apt", "auditd", "systemd-timesyncd"),
    "vector_store": ("postgresql-15", "postgresql-15-pgaudit", "ssl-cert"),
}


@dataclass(frozen=True)
class Built:
    root: Path
    files: int
    manifest_sha256: str


def build(
    out: Path, client: str, version: str, image_cache: Path, roles: tuple[str, ...] = tuple(ROLE_PACKAGES)
) -> Built:
    """Build into out (which must not exist yet, or be empty): nothing half-made is left on failure."""
    unknown = sorted(set(roles) - set(ROLE_PACKAGES))
    if unknown:
        raise BundleError(f"role {unknown[0]!r} has no bundle content; known: {', '.join(ROLE_PACKAGES)}.")
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out}: not empty; give a new folder for the bundle.")
    image = debootstrap(image_cache / "bookworm")
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    try:
        packages = sorted({p for role in roles for p in ROLE_PACKAGES[role]})
        debs.download(image, packages, work / "debs")
        if "vector_store" in roles:
            debs.build_pgvector(image, mirror(), work / "debs")
        debs.index(work / "debs")
        manifest, digest = write(work, client, version)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    work.rename(out)
    return Built(out, len(manifest.entries), digest)
