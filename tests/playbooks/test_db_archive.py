"""phistack-db-archive, the vector_store role's script for the host database's continuous archive: it passes
shellcheck, and a mistake in how it is called or configured is one line and a distinct exit code before anything
is touched. What it does (WAL push and fetch, base backups, the point-in-time restore) runs on the Debian 13 test
host in `phistack demo --host` (tests/hosts/test_demo_host.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "playbooks" / "roles" / "vector_store" / "files" / "phistack-db-archive"


def run(*args: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PHISTACK_ARCHIVE_ENV": str(env_file or "/nonexistent/archive.env")}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=30)


def test_the_script_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/system-deps.sh installs it)")
    checked = subprocess.run(["shellcheck", "--severity=style", str(SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_without_its_settings_it_says_which_file_and_exits_2() -> None:
    done = run("list")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "phistack-db-archive: /nonexistent/archive.env is missing or unreadable"
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="restore runs as root; the check of its time comes after that")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("restore", "the day before yesterday-ish"), "is not a time"),
        (("restore", "2026-12-03 14:05:00+00'; recovery_target_action = 'shutdown"), "is not a time"),
        (("restore",), "usage: restore TIME|latest"),
        (("wal-push",), "usage: wal-push PATH"),
        (("drop-everything",), "usage: phistack-db-archive wal-push|wal-fetch|backup|list|restore"),
    ],
)
def test_a_wrong_call_is_one_line_and_touches_nothing(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    settings = tmp_path / "archive.env"
    settings.write_text(
        'ARCHIVE_URL="s3://b/postgresql"\nARCHIVE_SERVER=i-0abc\nARCHIVE_KMS_KEY=k\nARCHIVE_REGION=us-east-1\n'
        "ARCHIVE_RETENTION_DAYS=35\nARCHIVE_SERVICES=phistack-gateway\nPG_VERSION=17\nPG_PORT=5432\n"
        f'PG_DATA="{tmp_path / "data"}"\n'
    )
    (tmp_path / "data").mkdir()
    done = run(*args, env_file=settings)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and words in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.env", "data"]
    assert list((tmp_path / "data").iterdir()) == []
