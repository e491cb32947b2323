"""Debian packages for the bundle, resolved and built on the pristine test-host image (root, systemd-nspawn and
Debian's mirror needed: the build machine's job; skipped elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.bundle import debs
from infra.bundle.image import mirror
from tests.hosts import nspawn

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("systemd-nspawn") is None or shutil.which("debootstrap") is None,
    reason="needs root, systemd-nspawn and debootstrap (scripts/system-deps.sh installs them)",
)


def test_packages_resolve_on_the_image_and_pgvector_builds_from_debian_source(tmp_path: Path) -> None:
    image = nspawn.rootfs()
    out = tmp_path / "debs"
    names = debs.download(image, ["auditd", "postgresql-15"], out)
    assert any(n.startswith("auditd_") for n in names) and any(n.startswith("postgresql-15_") for n in names)
    assert any(n.startswith("libaudit-common") or n.startswith("libauparse0") for n in names)  # dependencies too
    deb = debs.build_pgvector(image, mirror(), out)
    listing = subprocess.run(["dpkg-deb", "-c", str(out / deb)], capture_output=True, text=True, check=True).stdout
    assert "./usr/lib/postgresql/15/lib/vector.so" in listing
    assert "./usr/share/postgresql/15/extension/vector.control" in listing
    debs.index(out)
    packages = (out / "Packages").read_text()
    assert "Package: phistack-pgvector-15" in packages and "Package: auditd" in packages
    assert not (image / "usr/lib/postgresql").exists()  # the image stays pristine
