"""`phistack-gateway dev`, the README's local run: real database, real tiny model, dev IdP key. Upload, ask with
citations, stop with Ctrl-C, start again on the same state."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from infra.sandbox.server import free_port
from tests.stack.pdfs import tiny_pdf

ROOT = Path(__file__).resolve().parents[2]


def _start(state: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "phistack-gateway"), "dev", "--dir", str(state), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"dev stack did not come up: {process.communicate()[0][-3000:]}")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)  # Ctrl-C
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out[-2000:]
    return out


def test_dev_stack_answers_with_citations_and_restarts_on_its_state() -> None:
    base = Path(tempfile.mkdtemp(prefix="phistack-dev-"))  # traversable by the database's system user when root
    os.chmod(base, 0o755)
    state, port = base / "dev", free_port()
    process = _start(state, port)
    try:
        headers = {"Authorization": f"Bearer {(state / 'dev-token.txt').read_text().strip()}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as http:
            notes = b"# Night shift\n\nThe on-call pharmacist can be reached on extension 4417 after 10 pm."
            upload = http.post(
                "/v1/collections/handbook/documents",
                params={"title": "Night shift"},
                content=notes,
                headers={"Content-Type": "text/markdown"},
            )
            assert upload.status_code == 201, upload.text
            question = {"role": "user", "content": "How do I reach the on-call pharmacist at night?"}
            answer = http.post("/v1/chat/completions", json={"messages": [question], "max_tokens": 32}).json()
            assert answer["citations"][0]["document"] == "Night shift"
            assert "[1] Night shift (handbook" in answer["choices"][0]["message"]["content"]
    finally:
        out = _stop(process)
    assert "token for dev@clinic" in out and not (state / "pg" / "data" / "postmaster.pid").exists()
    assert (state / "dev-token.txt").stat().st_mode & 0o077 == 0
    process = _start(state, port)  # the same state: database, documents and key survive
    try:
        headers = {"Authorization": f"Bearer {(state / 'dev-token.txt').read_text().strip()}"}
        listed = httpx.get(f"http://127.0.0.1:{port}/v1/collections/handbook/documents", headers=headers).json()
        assert [d["title"] for d in listed] == ["Night shift"]
    finally:
        _stop(process)
        shutil.rmtree(base, ignore_errors=True)


def _commands(text: str) -> list[str]:
    """The shell commands of a snippet: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", "", text)
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip().startswith(("T=", "curl"))]


def _run_as_written(commands: list[str], cwd: Path) -> list[dict[str, object]]:
    script = "set -euo pipefail\n" + "\n".join(f"{c}; echo" for c in commands)
    done = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_the_readme_and_the_banner_examples_work_as_written() -> None:
    """The README's curl lines and the ones `dev` prints, run by bash exactly as a user pastes them (only the
    port and the state folder differ): every answer is a success, not a 422 (issue 14: no Content-Type)."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("### Try it on this machine", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    base = Path(tempfile.mkdtemp(prefix="phistack-dev-"))
    os.chmod(base, 0o755)
    state, port = base / "dev", free_port()
    (base / "handbook.pdf").write_bytes(tiny_pdf(["Night shift: call the on-call pharmacist on extension 4417."]))
    (base / "notes.md").write_text("# Notes\n\nThe clinic opens at 8 am.\n")
    process = _start(state, port)
    try:
        assert process.stdout is not None
        banner = ""
        while "Ctrl-C stops" not in banner:
            banner += process.stdout.readline()
        readme_commands = [
            c.replace(".phistack/gateway-dev", str(state)).replace("8443", str(port)) for c in _commands(block)
        ]
        for commands in (readme_commands, _commands(banner)):
            assert len(commands) == 3, commands
            upload, chat = _run_as_written(commands, base)
            assert upload.get("chunks", 0) >= 1, upload  # type: ignore[operator]
            assert chat.get("citations"), chat
    finally:
        _stop(process)
        shutil.rmtree(base, ignore_errors=True)
