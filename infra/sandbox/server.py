"""Start and stop a moto server on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from infra.errors import EmulatorError


def wait_until_serving(proc: subprocess.Popen[bytes], probe: str, timeout: float, what: str) -> None:
    """Poll an HTTP URL until it answers; EmulatorError if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(probe, timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise EmulatorError(f"{what} did not start (exit {proc.poll()}).") from None
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server(ready_timeout: float = 15.0, account_id: str | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """A moto server (infra/sandbox/motoserver.py) on 127.0.0.1 (no built-in AMIs: scans see only what was
    created); yields its URL.
    ``account_id`` makes the emulated account that one (moto's default is 123456789012); ``host`` binds it to
    another local address (a test host's veth, the only address that host can reach)."""
    port = free_port()
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    if account_id is not None:
        env["MOTO_ACCOUNT_ID"] = account_id
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.sandbox.motoserver", "-H", host, "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{host}:{port}"
    try:
        wait_until_serving(proc, f"{url}/moto-api/data.json", ready_timeout, f"moto server on {url}")
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """TERM, and KILL if it has not exited within ``grace`` seconds (a loaded machine: seen in CI, where a moto
    server busy answering took longer than 10 s to exit and the wait raised into the test)."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
