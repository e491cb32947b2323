"""A throwaway Debian 13 host with systemd as PID 1, for real Ansible runs on a machine without Docker: a
debootstrapped root (built once, cached, kept pristine) booted with systemd-nspawn on a volatile overlay, in its
own network namespace, reached over a veth pair on a private /30 with no route beyond it. SSH with a key baked
into the image. Needs root, debootstrap and systemd-container (scripts/system-deps.sh installs them).

    python -m phistack.testhost.nspawn up NAME      # prints the host's address and SSH key as JSON
    python -m phistack.testhost.nspawn down NAME
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.errors import BundleError, HostError
from infra.hosts.bundle.image import SUITE, debootstrap, image_lock
from infra.locks import exclusive, write_if_changed

CACHE = Path(os.environ.get("PHISTACK_TESTHOST_CACHE", "/var/cache/phistack-testhost"))
STATE = Path("/run/phistack-testhost")
TTL_SECONDS = 3600  # a host left behind by a crashed test powers itself off after an hour


@dataclass(frozen=True)
class Host:
    name: str
    address: str  # the host's (container's) address on the veth
    gateway: str  # this machine's side of the veth
    pid: int  # the systemd-nspawn process
    ssh_key: str  # private key for root@address

    def ssh_args(self) -> list[str]:
        return ["-i", self.ssh_key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ControlMaster=no", "-o", "LogLevel=ERROR"]  # fmt: skip

    def run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """command as root on the host over SSH, its output captured; the caller judges the exit status."""
        return subprocess.run(
            ["ssh", *self.ssh_args(), f"root@{self.address}", command],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise HostError(f"{cmd[0]} failed (exit {result.returncode}): {' | '.join(tail)}")
    return result


def rootfs() -> Path:
    """The cached Debian 13 image (infra/hosts/bundle/image.py), with this harness's SSH key and networkd baked in.
    Hosts booted from it read it under their overlays while another test may be calling this: under the image's
    lock, each file is written only when it differs, and replaced whole."""
    root = debootstrap(CACHE / SUITE)
    key = CACHE / "id_ed25519"
    with exclusive(image_lock(root)):
        if not key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "phistack-testhost", "-f", str(key))
        ssh = root / "root" / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        write_if_changed(ssh / "authorized_keys", Path(f"{key}.pub").read_text(), mode=0o600)
        link = root / "etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/lib/systemd/system/systemd-networkd.service")
        write_if_changed(root / "etc/hostname", "phistack-testhost\n")
    return root


def _addresses(name: str) -> tuple[str, str]:
    """A /30 in 10.231.0.0/16 per name (stable, so a host that was not torn down is found again)."""
    n = int.from_bytes(name.encode(), "big") % 16000
    base = 4 * n
    return f"10.231.{base // 256}.{base % 256 + 2}", f"10.231.{base // 256}.{base % 256 + 1}"


def _veth(name: str) -> str:
    return f"ve-{name}"[:15]


def up(name: str, boot_timeout: float = 60.0) -> Host:
    if not name.replace("-", "").isalnum() or len(name) > 11:
        raise HostError(f"host name {name!r}: letters, digits and '-', at most 11 characters")
    down(name)  # a leftover from an interrupted run
    image = rootfs()
    address, gateway = _addresses(name)
    STATE.mkdir(parents=True, exist_ok=True)
    network = STATE / f"{name}.network"
    network.write_text(f"[Match]\nName=host0\n\n[Network]\nAddress={address}/30\n")  # no Gateway=: no egress
    log = STATE / f"{name}.log"
    command = [
        "timeout", str(TTL_SECONDS), "systemd-nspawn", "-D", str(image), "--volatile=overlay", "-b",
        "-M", name, "--register=no", "--keep-unit", "--network-veth", "--console=read-only",
        f"--bind-ro={network}:/etc/systemd/network/50-host0.network",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    for hierarchy in ("systemd", "unified"):  # its own cgroup: keeps the machine's root cgroup clean
        group = Path("/sys/fs/cgroup") / hierarchy / f"phistack-{name}"
        with contextlib.suppress(OSError):
            group.mkdir(exist_ok=True)
            (group / "cgroup.procs").write_text(str(process.pid))
    veth = _veth(name)
    deadline = time.monotonic() + boot_timeout
    while _run_ok("ip", "link", "show", veth) is False:
        if process.poll() is not None or time.monotonic() > deadline:
            raise HostError(f"{name}: systemd-nspawn exited or made no veth: {log.read_text()[-1500:]}")
        time.sleep(0.05)
    _run("ip", "addr", "replace", f"{gateway}/30", "dev", veth)
    _run("ip", "link", "set", veth, "up")
    host = Host(name, address, gateway, process.pid, str(CACHE / "id_ed25519"))
    (STATE / f"{name}.json").write_text(json.dumps(asdict(host)))
    while not _ssh_ready(host):
        if process.poll() is not None or time.monotonic() > deadline:
            down(name)
            raise HostError(f"{name}: no SSH on {address} after {boot_timeout:.0f} s: {log.read_text()[-1500:]}")
        time.sleep(0.2)
    return host


def _run_ok(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def _ssh_ready(host: Host) -> bool:
    try:
        with socket.create_connection((host.address, 22), timeout=0.5):
            pass
    except OSError:
        return False
    return _run_ok("ssh", *host.ssh_args(), "-o", "ConnectTimeout=2", f"root@{host.address}", "true")


def _nspawn_pids(name: str) -> set[int]:
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                ours = argv[:3] == [b"timeout", str(TTL_SECONDS).encode(), b"systemd-nspawn"] and b"-M" in argv
                if ours and argv[argv.index(b"-M") + 1] == name.encode():
                    found.add(int(proc.name))
    return found


def down(name: str) -> None:
    """Power the host off (SIGTERM to nspawn: a clean shutdown) and remove everything it left on this machine."""
    record = STATE / f"{name}.json"
    pids = {int(json.loads(record.read_text())["pid"])} if record.exists() else set()
    pids |= _nspawn_pids(name)  # also a host whose record was lost
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    _run_ok("ip", "link", "delete", _veth(name))
    for hierarchy in ("systemd", "unified"):
        with contextlib.suppress(OSError):
            (Path("/sys/fs/cgroup") / hierarchy / f"phistack-{name}").rmdir()
    shutil.rmtree(Path("/run/systemd/nspawn/propagate") / name, ignore_errors=True)
    for suffix in (".json", ".network", ".log"):
        (STATE / f"{name}{suffix}").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phistack.testhost.nspawn", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "image"])
    parser.add_argument("name", nargs="?", default="phistack")
    args = parser.parse_args(argv)
    try:
        if args.action == "image":
            print(rootfs())  # noqa: T201
        elif args.action == "up":
            print(json.dumps(asdict(up(args.name))))  # noqa: T201
        else:
            down(args.name)
    except (HostError, BundleError) as exc:
        print(f"testhost: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
