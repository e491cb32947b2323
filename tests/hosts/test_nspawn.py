"""The throwaway test host itself: boots with systemd as PID 1, answers over SSH on its veth, has no route out,
and leaves nothing behind when torn down."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from phistack.testhost import nspawn

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("systemd-nspawn") is None or shutil.which("debootstrap") is None,
        reason="needs root, systemd-nspawn and debootstrap (scripts/system-deps.sh installs them)",
    ),
]


def _ssh(host: nspawn.Host, command: str) -> str:
    result = subprocess.run(
        ["ssh", *host.ssh_args(), f"root@{host.address}", command], capture_output=True, text=True, timeout=30
    )
    return result.stdout.strip()


def test_a_host_boots_systemd_without_egress_and_is_torn_down_cleanly() -> None:
    host = nspawn.up("pstest")
    try:
        assert _ssh(host, "cat /proc/1/comm") == "systemd"
        assert _ssh(host, "systemctl is-system-running --wait") in ("running", "degraded")
        assert _ssh(host, "ip route show default") == ""  # no way out but the veth's own /30
        assert _ssh(host, f"ip -4 -o addr show host0 | grep -c {host.address}/30") == "1"
    finally:
        nspawn.down("pstest")
    assert not nspawn._nspawn_pids("pstest")
    assert subprocess.run(["ip", "link", "show", "ve-pstest"], capture_output=True).returncode != 0
    assert not (nspawn.STATE / "pstest.json").exists()
