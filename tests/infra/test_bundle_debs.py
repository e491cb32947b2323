"""Debian packages for the bundle, resolved on the pristine Debian 13 test-host image (root, systemd-nspawn and
Debian's mirror needed: the build machine's job; skipped elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.hosts.bundle import debs
from phistack.testhost import nspawn

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("systemd-nspawn") is None or shutil.which("debootstrap") is None,
        reason="needs root, systemd-nspawn and debootstrap (scripts/system-deps.sh installs them)",
    ),
]


def test_packages_resolve_on_the_debian_13_image_from_debian_alone(tmp_path: Path) -> None:
    image = nspawn.rootfs()
    assert 'VERSION_ID="13"' in (image / "etc/os-release").read_text()
    out = tmp_path / "debs"
    names = debs.download(image, ["auditd", "postgresql-17-pgvector", "postgresql-17-pgaudit"], out)
    for package in ("auditd_", "postgresql-17_", "postgresql-17-pgvector_0.8", "postgresql-17-pgaudit_"):
        assert any(n.startswith(package) for n in names), package
    assert any(n.startswith("libaudit-common") or n.startswith("libauparse0") for n in names)  # dependencies too
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(next(out.glob("postgresql-17-pgvector_*.deb")))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "./usr/lib/postgresql/17/lib/vector.so" in listing
    debs.index(out)
    packages = (out / "Packages").read_text()
    assert "Package: postgresql-17-pgvector" in packages and "Package: auditd" in packages
    assert not (image / "usr/lib/postgresql").exists()  # the image stays pristine
