"""A pristine root filesystem of the hosts' OS (Debian 13, "trixie", the GPU hosts' AMI), made with debootstrap and
cached, on which the bundle's packages and wheels are resolved (infra/hosts/bundle/debs.py, wheels.py). The
throwaway test host boots the same image. Its apt sources name the components the hosts need (NVIDIA's driver is
in contrib and non-free, its firmware in non-free-firmware) and the security suite (the cloud kernel's fixes land
there first); they are used only on the build machine: on a host, the artifacts role makes the bundle the only
apt source."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.errors import BundleError
from infra.locks import exclusive, write_if_changed

SUITE = "trixie"  # Debian 13: the only OS the installer supports
COMPONENTS = "main contrib non-free non-free-firmware"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo", "iproute2", "ca-certificates")


def mirror() -> str:
    """This machine's own Debian mirror (what its apt uses), else deb.debian.org."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    for line in sources.read_text().splitlines() if sources.exists() else []:
        if line.startswith("URIs:") and "security" not in line:
            return line.split()[1]
    return "http://deb.debian.org/debian"


def sources(suite: str = SUITE) -> str:
    """The image's apt sources: the suite, its updates and its security suite, every component."""
    archive = mirror().rstrip("/")
    security = archive.rsplit("/", 1)[0] + "/debian-security" if archive.endswith("/debian") else archive
    return (
        f"deb {archive} {suite} {COMPONENTS}\n"
        f"deb {archive} {suite}-updates {COMPONENTS}\n"
        f"deb {security} {suite}-security {COMPONENTS}\n"
    )


def image_lock(root: Path) -> Path:
    """The lock file beside an image: held while it is built or any of its files is written."""
    return root.with_name(root.name + ".lock")


def debootstrap(root: Path, suite: str = SUITE, packages: tuple[str, ...] = BASE_PACKAGES) -> Path:
    """Build root once (about a minute); a marker file says it is complete, so an interrupted build is redone. The
    apt sources are (re)written when they differ: they are part of the recipe, not of what debootstrap fetched.
    Builds and test hosts that start at once share it: one builds, the others wait (a lock beside it), and a file
    that running hosts' overlays read is only ever replaced whole, and only when it changes."""
    done = root.with_name(root.name + ".complete")
    with exclusive(image_lock(root)):
        if not done.exists():
            _build(root, suite, packages)
            done.touch()
        write_if_changed(root / "etc/apt/sources.list", sources(suite))
    return root


def _build(root: Path, suite: str, packages: tuple[str, ...]) -> None:
    if shutil.which("debootstrap") is None:
        raise BundleError("debootstrap not found: install it (scripts/system-deps.sh does, as root).")
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(root), mirror()]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise BundleError(f"debootstrap {suite} failed (exit {result.returncode}): {' | '.join(tail)}")
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
