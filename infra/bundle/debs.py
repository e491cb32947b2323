"""Debian packages for the bundle, resolved on a pristine image of the target OS so the set is exactly what an
offline host of that OS needs: apt downloads them inside a throwaway systemd-nspawn container on a volatile
overlay (the image is never changed). pgvector, which Debian 12 does not package, is built there from Debian's
own source package (pinned by SHA-256) against the target's PostgreSQL, and packaged as a .deb. The folder is
then indexed as a flat apt repository (`deb [trusted=yes] file:/opt/phistack/bundle/debs ./`: the hosts check
every file against the pinned manifest before apt sees it). Needs root and systemd-nspawn; network only here, on
the build machine."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from infra.errors import BundleError

PGVECTOR = ("0.8.0", "867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0")  # Debian's orig tarball
_NSPAWN = ["systemd-nspawn", "-q", "--volatile=overlay", "--register=no", "--keep-unit"]


def _in_image(image: Path, folder: Path, script: str) -> None:
    command = [*_NSPAWN, "-D", str(image), f"--bind={folder}:/out", "sh", "-euc", script]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-4:]
        raise BundleError(f"building in {image.name} failed (exit {result.returncode}): {' | '.join(tail)}")


def download(image: Path, packages: list[str], out: Path) -> list[str]:
    """The .debs apt would install on the image for `packages`, with every dependency the image lacks."""
    out.mkdir(parents=True, exist_ok=True)
    _in_image(
        image,
        out,
        "apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only "
        f"-o Dir::Cache::archives=/out {' '.join(packages)} >/dev/null; rm -rf /out/partial /out/lock",
    )
    return sorted(p.name for p in out.glob("*.deb"))


def build_pgvector(image: Path, mirror: str, out: Path, pg_major: int = 15) -> str:
    """phistack-pgvector-<pg_major>_<version>_amd64.deb, built from Debian's pgvector source. Portable code
    (OPTFLAGS empty: no -march=native), installed under the target PostgreSQL's own directories."""
    version, sha256 = PGVECTOR
    name = f"phistack-pgvector-{pg_major}"
    work = out / ".pgvector-build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg_config = f"/usr/lib/postgresql/{pg_major}/bin/pg_config"
    control = (
        f"Package: {name}\nVersion: {version}-1phistack\nArchitecture: amd64\nMaintainer: phistack\n"
        f"Depends: postgresql-{pg_major}\nDescription: pgvector {version} for PostgreSQL {pg_major}, "
        "built from Debian's pgvector source package\n"
    )
    (work / "control").write_text(control)
    _in_image(
        image,
        work,
        "apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        f"ca-certificates curl make gcc postgresql-server-dev-{pg_major} >/dev/null; cd /out; "
        f"curl -fsS -o src.tar.gz {mirror.rstrip('/')}/pool/main/p/pgvector/pgvector_{version}.orig.tar.gz; "
        f"echo '{sha256}  src.tar.gz' | sha256sum -c --quiet; tar xzf src.tar.gz; cd pgvector-{version}; "
        f"make -s OPTFLAGS='' PG_CONFIG={pg_config} >/dev/null 2>&1; "
        f"make -s install DESTDIR=/out/pkg PG_CONFIG={pg_config} >/dev/null; "
        "mkdir -p /out/pkg/DEBIAN; cp /out/control /out/pkg/DEBIAN/control; "
        f"dpkg-deb --root-owner-group -b /out/pkg /out/{name}.deb >/dev/null",
    )
    deb = f"{name}_{version}-1phistack_amd64.deb"
    shutil.move(work / f"{name}.deb", out / deb)
    shutil.rmtree(work)
    return deb


def index(out: Path) -> None:
    """Packages and Packages.gz for a flat repository (dpkg-scanpackages, from dpkg-dev)."""
    scanner = shutil.which("dpkg-scanpackages")
    if scanner is None:
        raise BundleError("dpkg-scanpackages not found: install dpkg-dev on the build machine.")
    result = subprocess.run([scanner, "--multiversion", "."], cwd=out, capture_output=True, check=False)
    if result.returncode != 0:
        raise BundleError(f"dpkg-scanpackages failed: {result.stderr.decode(errors='replace').strip()[-300:]}")
    (out / "Packages").write_bytes(result.stdout)
    (out / "Packages.gz").write_bytes(gzip.compress(result.stdout, mtime=0))  # reproducible: no timestamp
