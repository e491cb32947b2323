"""A pristine root filesystem of the hosts' OS, made with debootstrap and cached, on which the bundle's packages
are resolved and built (infra/bundle/debs.py). The throwaway test host boots the same image."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.errors import BundleError

BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo", "iproute2", "ca-certificates")


def mirror() -> str:
    """This machine's own Debian mirror (what its apt uses), else deb.debian.org."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    for line in sources.read_text().splitlines() if sources.exists() else []:
        if line.startswith("URIs:") and "security" not in line:
            return line.split()[1]
    return "http://deb.debian.org/debian"


def debootstrap(root: Path, suite: str = "bookworm", packages: tuple[str, ...] = BASE_PACKAGES) -> Path:
    """Build root once (about a minute); a marker file says it is complete, so an interrupted build is redone."""
    done = root.with_name(root.name + ".complete")
    if done.exists():
        return root
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
    done.touch()
    return root
