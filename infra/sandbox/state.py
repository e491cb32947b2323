"""The sandbox between commands: an embedded moto server that outlives `sandbox up`, and what was created.

State lives in ``.phistack/sandbox/`` under the project (or $PHISTACK_SANDBOX_DIR): ``server.json`` (pid,
url, account) for a server we started, and ``<client>.json`` (outputs, created resources, emulator gaps).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.sandbox.engine import SandboxError
from infra.sandbox.server import free_port


def state_dir(project: Path) -> Path:
    return Path(os.environ.get("PHISTACK_SANDBOX_DIR") or project / ".phistack" / "sandbox")


@dataclass
class Server:
    url: str
    pid: int | None  # None: a server someone else runs (--endpoint-url)
    account_id: str


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1)
            return True
        except OSError:
            time.sleep(0.1)
    return False


def running_server(folder: Path) -> Server | None:
    path = folder / "server.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("pid") is not None and not _alive(int(data["pid"])):
        path.unlink()
        return None
    return Server(data["url"], data.get("pid"), data["account_id"])


def start_server(folder: Path, account_id: str) -> Server:
    """A moto server detached from this process, so the following commands find it."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false", "MOTO_ACCOUNT_ID": account_id}
    with (folder / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.sandbox.motoserver", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    if not _ready(url, 20):
        proc.kill()
        raise SandboxError(f"The embedded AWS emulator did not start on {url} (see {folder / 'server.log'}).")
    server = Server(url, proc.pid, account_id)
    (folder / "server.json").write_text(json.dumps({"url": url, "pid": proc.pid, "account_id": account_id}) + "\n")
    return server


def reset_emulator(url: str) -> None:
    """Every resource of every account in the emulator removed (moto's own reset)."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5)


def stop_server(folder: Path) -> str:
    server = running_server(folder)
    for path in folder.glob("*.json"):
        path.unlink()
    if server is None:
        return "no sandbox is running"
    if server.pid is None:
        reset_emulator(server.url)
        return f"reset the emulated account at {server.url}"
    os.kill(server.pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(server.pid):
            break
        time.sleep(0.1)
    return f"stopped the embedded AWS emulator (pid {server.pid}, {server.url})"


def remember_external(folder: Path, url: str, account_id: str) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "server.json").write_text(json.dumps({"url": url, "pid": None, "account_id": account_id}) + "\n")
    return Server(url, None, account_id)


def save_client(folder: Path, client: str, record: dict[str, Any]) -> Path:
    path = folder / f"{client}.json"
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def clients(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != "server.json"}
