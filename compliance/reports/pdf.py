"""report.pdf: report.html printed by headless Chromium (Debian's chromium package).

Two ways, one result: ``render_pdf`` starts Chromium for one page (``report render``); ``WarmChromium`` starts
it *before* the page exists, while an audit still collects facts, and prints over the DevTools protocol on a
pipe (``--remote-debugging-pipe``: JSON messages ending in NUL, our commands on its fd 3, its answers on fd 4).
Chromium's start-up (about a second and a half on two cores, most of what the PDF cost) then overlaps the API
calls instead of following them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

# The headless shell first: the same Blink without the browser around it, starting in a third of the time.
CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# The DevTools protocol's print options matching what --print-to-pdf gives: backgrounds (the status colours),
# no header or footer, the page size the stylesheet asks for.
PRINT = {"printBackground": True, "displayHeaderFooter": False, "preferCSSPageSize": True}


def find_chromium() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def render_pdf(html: Path, pdf: Path, chromium: str, timeout: float = 120) -> None:
    """Print ``html`` to ``pdf``. Raises RuntimeError with Chromium's last words if it fails."""
    with tempfile.TemporaryDirectory(prefix="phistack-chromium-") as profile:
        result = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
             html.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )  # fmt: skip
    if result.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Chromium could not print {html.name} (exit {result.returncode}): {tail}")


def _above_nine(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class WarmChromium:
    """Headless Chromium started ahead of need; ``print_pdf`` once the page is written, ``close`` always."""

    def __init__(self, chromium: str) -> None:
        self._profile = tempfile.mkdtemp(prefix="phistack-chromium-")
        to_chromium, self._commands = os.pipe()
        self._answers, from_chromium = os.pipe()
        # Above 9, so that putting them on 3 and 4 cannot overwrite one with the other (a free fd 3 or 4 here).
        to_chromium, from_chromium = _above_nine(to_chromium), _above_nine(from_chromium)
        # bash puts the two pipe ends on the fds Chromium reads and writes (3 and 4), without a preexec_fn
        # (unsafe once threads run), then becomes Chromium. (dash, Debian's sh, takes single-digit fds only.)
        argv = [chromium, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-pipe", "about:blank"]
        script = f"exec {shlex.join(argv)} 3<&{to_chromium} 4>&{from_chromium}"
        self._process = subprocess.Popen(
            ["/bin/bash", "-c", script],
            pass_fds=(to_chromium, from_chromium),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that close() stops the helpers with it
        )
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer = b""
        self._next_id = 0

    def print_pdf(self, html: Path, pdf: Path, timeout: float = 120) -> None:
        """Print ``html`` to ``pdf`` in a fresh tab. Raises RuntimeError naming the step that failed."""
        deadline = time.monotonic() + timeout
        target = self._call("Target.createTarget", {"url": "about:blank"}, deadline)["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline)["sessionId"]
        self._call("Page.enable", {}, deadline, session)
        self._call("Page.navigate", {"url": html.resolve().as_uri()}, deadline, session)
        self._wait_for("Page.loadEventFired", session, deadline)
        data = self._call("Page.printToPDF", PRINT, deadline, session)["data"]
        pdf.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Stop Chromium and its helper processes at once (the profile is a throwaway; a polite Browser.close
        costs a third of a second), then remove the profile they were writing to."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        for fd in (self._commands, self._answers):
            os.close(fd)
        for _ in range(50):  # the killed helpers may still hold files in the profile for a moment
            try:
                shutil.rmtree(self._profile)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> WarmChromium:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, params: dict[str, Any], deadline: float, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        try:
            os.write(self._commands, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise RuntimeError(f"Chromium is gone ({method}: {exc.strerror})") from None
        while True:
            answer = self._read(deadline, method)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"Chromium refused {method}: {answer['error'].get('message')}")
                return answer.get("result", {})

    def _wait_for(self, event: str, session: str, deadline: float) -> None:
        while True:
            message = self._read(deadline, event)
            if message.get("method") == event and message.get("sessionId") == session:
                return

    def _read(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._answers], [], [], max(left, 0))
            if not ready:
                raise RuntimeError(f"Chromium did not answer {waiting_for} in time")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (exit {self._process.poll()}) before answering {waiting_for}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message
