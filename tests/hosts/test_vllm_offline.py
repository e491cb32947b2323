"""vLLM from the bundle's wheels, installed offline on Debian 13: `import vllm` and `vllm serve --help` run in the
installed environment with no network at all. On demand: the wheels are about 5 GB (vLLM pins its CUDA PyTorch), too
much for every CI run, so this runs when PHISTACK_VLLM_WHEELS names a folder `bundle build --engine vllm` filled
(its wheels/). Needs root and systemd-nspawn. No GPU here: serving is not tried, only the install and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.hosts import nspawn

WHEELS = os.environ.get("PHISTACK_VLLM_WHEELS")

pytestmark = pytest.mark.skipif(
    not WHEELS or os.geteuid() != 0 or shutil.which("systemd-nspawn") is None,
    reason="on demand: set PHISTACK_VLLM_WHEELS to a vLLM bundle's wheels/ (root and systemd-nspawn needed)",
)


def test_vllm_installs_and_starts_its_cli_offline_on_debian_13(tmp_path: Path) -> None:
    assert WHEELS is not None
    host = tmp_path / "host"  # a disk-backed copy of the image: the installed environment is about 10 GB
    subprocess.run(["cp", "-a", "--reflink=auto", str(nspawn.rootfs()), str(host)], check=True)
    script = (
        "python3 -m venv /opt/phistack/llm/venv && "
        "/opt/phistack/llm/venv/bin/pip install -q --no-index --find-links /wheels vllm && "
        "/opt/phistack/llm/venv/bin/python -c 'import vllm; print(\"vllm\", vllm.__version__)' && "
        "HF_HUB_OFFLINE=1 /opt/phistack/llm/venv/bin/vllm serve --help=all | grep -c -- '--tensor-parallel-size'"
    )
    started = time.monotonic()
    done = subprocess.run(
        ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--private-network", "-D", str(host),
         f"--bind-ro={WHEELS}:/wheels", "sh", "-euc", script],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "vllm 0.18" in done.stdout
    print(f"vLLM installed offline and its CLI answered in {elapsed:.0f} s")  # noqa: T201
