"""Debian packages for the bundle, resolved on a pristine image of the target OS so the set is exactly what an
offline host of that OS needs: apt downloads them inside a throwaway systemd-nspawn container on a volatile
overlay (the image is never changed). Everything comes from Debian 13's archive (PostgreSQL 17 with pgvector and
pgaudit are in main; NVIDIA's driver in contrib and non-free). The folder is then indexed as a flat apt
repository (`deb [trusted=yes] file:/opt/phistack/bundle/debs ./`: the hosts check every file against the pinned
manifest before apt sees it). Needs root and systemd-nspawn; network only here, on
the build machine."""

from __future__ import annotations

import gzip
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

from infra.errors import BundleError

_NSPAWN = ["systemd-nspawn", "-q", "--volatile=overlay", "--register=no", "--keep-unit"]
_NOISE = "Attempted to remove disk file system"  # nspawn's own line at exit on a volatile overlay, not an error


def _trust() -> tuple[str, ...]:
    """The build machine's CA bundle, for apt and pip in the container: a build machine behind a TLS-inspecting
    proxy trusts that proxy's CA there, and the image's own bundle does not."""
    bundle = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    if not bundle.is_file():
        return ()
    return (f"--bind-ro={bundle}:/run/build-ca.crt", "--setenv=PIP_CERT=/run/build-ca.crt")


def in_image(image: Path, folder: Path, script: str, mounts: tuple[str, ...] = ()) -> None:
    """Run script as root in a throwaway container of image (the build machine's network), folder at /out;
    mounts are further nspawn --bind/--bind-ro options. Temporary files go to a scratch folder on the build
    machine's disk beside folder (a volatile container's /tmp is in memory, too small for CUDA wheels)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".scratch-", dir=folder.parent) as scratch:
        scratch_mounts = (f"--bind={scratch}:/var/tmp", "--setenv=TMPDIR=/var/tmp")
        command = [*_NSPAWN, "-D", str(image), f"--bind={folder}:/out", *scratch_mounts, *_trust(), *mounts]
        command += ["sh", "-euc", script]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stdout + "\n" + result.stderr).strip().splitlines()
        tail = [line for line in lines if line.strip() and _NOISE not in line][-4:]
        raise BundleError(f"building in {image.name} failed (exit {result.returncode}): {' | '.join(tail)}")


def download(image: Path, packages: list[str], out: Path) -> list[str]:
    """The .debs apt would install on the image for `packages`, with every dependency the image lacks."""
    out.mkdir(parents=True, exist_ok=True)
    in_image(
        image,
        out,
        "apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only "
        f"--no-install-recommends -o Dir::Cache::archives=/out {' '.join(packages)} >/dev/null; "
        "rm -rf /out/partial /out/lock",
    )
    return sorted(p.name for p in out.glob("*.deb"))


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
