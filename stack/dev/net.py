"""Loopback helpers for the gateway's local tooling (the dev stack, the load and crash checks): a free port, and
waiting for a process to answer over HTTP. The gateway's own, so `stack` imports nothing of infra's."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_answering(process: subprocess.Popen[bytes], url: str, timeout: float, what: str) -> None:
    """Until ``url`` answers with any HTTP status; RuntimeError naming ``what`` if the process exits first or the
    time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.1)
