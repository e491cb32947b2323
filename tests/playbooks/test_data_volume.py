"""The base role's data volume concern, run for real (ansible-playbook, connection local) against a loop device
standing in for the EBS volume: found by its NVMe serial under a by-id folder, formatted once, mounted by UUID, and
never reformatted when it already holds a filesystem (data). Needs root and loop devices; the fstab and the mount
point are the test's own, so this machine's /etc/fstab is never touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VOLUME = "vol-0a1b2c3d4e5f60718"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None or shutil.which("mkfs.ext4") is None,
    reason="needs root, losetup and mkfs.ext4",
)


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB loop device, named by udev's EBS scheme in tmp_path/by-id."""
    image = tmp_path / "volume.img"
    with image.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    device = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True)
    loop = Path(device.stdout.strip())
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / f"nvme-Amazon_Elastic_Block_Store_{VOLUME.replace('-', '')}").symlink_to(loop)
    try:
        yield loop
    finally:
        subprocess.run(["umount", str(tmp_path / "data")], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", str(loop)], capture_output=True, check=False)


def converge(tmp_path: Path, volume_id: str = VOLUME) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role: {name: base, tasks_from: data_volume}\n"
    )
    variables = {
        "base_data_volume_id": volume_id,
        "base_data_device_dir": str(tmp_path / "by-id"),
        "base_data_mount": str(tmp_path / "data"),
        "base_data_fstab": str(tmp_path / "fstab"),
        "ansible_python_interpreter": sys.executable,
    }
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROOT / "playbooks" / "roles"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "PATH": f"{BIN}:{os.environ['PATH']}"}  # fmt: skip
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", json.dumps(variables), str(play)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    recap = result.stdout.rsplit("localhost", 1)[-1]
    counts = {k: int(v) for k, v in (item.split("=") for item in recap.split() if "=" in item)}
    return result, counts


def mounted(path: Path) -> str:
    found = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", str(path)], capture_output=True, text=True)
    return found.stdout.strip()


def test_a_blank_volume_is_formatted_once_and_mounted_by_uuid_then_left_alone(tmp_path: Path, volume: Path) -> None:
    first, counts = converge(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    assert counts["changed"] == 2  # the filesystem, the mount
    uuid = subprocess.run(["blkid", "-s", "UUID", "-o", "value", str(volume)], capture_output=True, text=True).stdout
    assert (
        f"UUID={uuid.strip()} {tmp_path / 'data'} ext4 defaults,nodev,nosuid,noexec,nofail"
        in (tmp_path / "fstab").read_text()
    )
    assert mounted(tmp_path / "data").startswith(f"{volume} ext4 ")
    assert "nosuid" in mounted(tmp_path / "data") and "noexec" in mounted(tmp_path / "data")
    (tmp_path / "data" / "PG_VERSION").write_text("17\n")  # data written by the services

    second, counts = converge(tmp_path)
    assert second.returncode == 0 and counts["changed"] == 0, second.stdout[-3000:]

    subprocess.run(["umount", str(tmp_path / "data")], check=True)  # e.g. a reboot, or a replaced host
    third, counts = converge(tmp_path)
    assert third.returncode == 0 and counts["changed"] == 1, third.stdout[-3000:]  # mounted again, not formatted
    assert (tmp_path / "data" / "PG_VERSION").read_text() == "17\n"


def test_a_volume_holding_another_filesystem_is_never_reformatted(tmp_path: Path, volume: Path) -> None:
    subprocess.run(["mkfs.ext2", "-q", "-F", str(volume)], check=True)
    result, _ = converge(tmp_path)
    assert result.returncode == 2
    assert "ext2" in result.stdout and "force" in result.stdout  # the module refuses rather than reformat
    assert 'TYPE="ext2"' in subprocess.run(["blkid", str(volume)], capture_output=True, text=True).stdout


def test_a_missing_or_malformed_volume_id_stops_with_one_line(tmp_path: Path, volume: Path) -> None:
    result, _ = converge(tmp_path, "vol-0ffffffffffffffff")
    assert result.returncode == 2
    assert "No device with serial vol0ffffffffffffffff under" in result.stdout
    assert "is vol-0ffffffffffffffff attached to this instance?" in result.stdout
    result, _ = converge(tmp_path, "")
    assert result.returncode == 2 and "base_data_volume_id = '': not an EBS volume id" in result.stdout
    assert not mounted(tmp_path / "data")
