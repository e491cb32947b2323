"""vLLM from the bundle's wheels, installed offline on Debian 13, as the llm_server role installs it (apt from the
bundle's flat repository, then pip --no-index from its wheels), with no network at all: vLLM and its OpenAI server
import, and every flag the llm_server unit passes exists in this vLLM. On demand: the wheels are about 5 GB (vLLM
pins its CUDA PyTorch), too much for every CI run, so this runs when PHISTACK_VLLM_BUNDLE names a bundle
`bundle build --engine vllm` made (its debs/ and wheels/). Needs root and systemd-nspawn. No GPU here: serving is
not tried."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from phistack.testhost import nspawn
from tests.playbooks.test_templates import render

BUNDLE = os.environ.get("PHISTACK_VLLM_BUNDLE")

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(
        not BUNDLE or os.geteuid() != 0 or shutil.which("systemd-nspawn") is None,
        reason="on demand: set PHISTACK_VLLM_BUNDLE to a vLLM bundle (root and systemd-nspawn needed)",
    ),
]


def test_vllm_installs_and_starts_its_cli_offline_on_debian_13(tmp_path: Path) -> None:
    assert BUNDLE is not None
    host = tmp_path / "host"  # a disk-backed copy of the image: the installed environment is about 10 GB
    subprocess.run(["cp", "-a", "--reflink=auto", str(nspawn.rootfs()), str(host)], check=True)
    # vLLM 0.18's CLI infers the device while it builds its argument parser, so `vllm serve --help` stops with
    # "Failed to infer device type" on a machine without a GPU: the server's modules are imported instead, and each
    # flag the llm_server unit passes is looked up in this vLLM's own argument definitions.
    unit = render("llm_server", "phistack-llm.service.j2", llm_server_gpu_count=4, llm_server_quantization="fp8")
    start = unit.split("ExecStart=", 1)[1].split("\nRestart=", 1)[0].replace("\\\n", " ").split()
    flags = tuple(sorted({a.removeprefix("--").replace("-", "_") for a in start if a.startswith("--")}))
    assert len(flags) >= 10
    check = (
        "import vllm, vllm.entrypoints.openai.api_server, vllm.entrypoints.cli.main, inspect; "
        "from vllm.engine import arg_utils; from vllm.entrypoints.openai import cli_args; "
        "source = inspect.getsource(arg_utils) + inspect.getsource(cli_args); "
        f"missing = [f for f in {flags!r} if f not in source]; "
        "print('vllm', vllm.__version__, 'missing flags:', missing)"
    )
    script = (
        "echo 'deb [trusted=yes] file:/bundle/debs ./' > /etc/apt/sources.list && "
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "python3-venv >/dev/null && python3 -m venv /opt/phistack/llm/venv && "
        "/opt/phistack/llm/venv/bin/pip install -q --no-index --find-links /bundle/wheels vllm && "
        f'HF_HUB_OFFLINE=1 /opt/phistack/llm/venv/bin/python -c "{check}"'
    )
    started = time.monotonic()
    done = subprocess.run(
        ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--private-network", "-D", str(host),
         f"--bind-ro={BUNDLE}:/bundle", "sh", "-euc", script],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "vllm 0.18.0 missing flags: []" in done.stdout, done.stdout[-2000:]
    print(f"vLLM installed offline, imported and its {len(flags)} flags found in {elapsed:.0f} s")  # noqa: T201
