"""report.pdf: report.html printed by headless Chromium (Debian's chromium package)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def render_pdf(html: Path, pdf: Path, chromium: str, timeout: float = 120) -> None:
    """Print ``html`` to ``pdf``. Raises RuntimeError with Chromium's last words if it fails."""
    with tempfile.TemporaryDirectory(prefix="phistack-chromium-") as profile:
        result = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf}",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Chromium could not print {html.name} (exit {result.returncode}): {tail}")
