"""The artifacts role's fetch module (playbooks/roles/artifacts/library/phistack_fetch.py), run by real Ansible against
this machine, fetching from a local HTTP server: every missing file in one task, each kept only if its SHA-256 (and
size) is the manifest's, nothing half-written left behind, no URL in what the task returns or prints."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LIBRARY = ROOT / "playbooks" / "roles" / "artifacts" / "library"
SECRET = "X-Amz-Signature=not-for-the-log"


class _Served(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        body = self.files.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_response(403)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}
    handler = type("Handler", (_Served,), {"files": files})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    finally:
        httpd.shutdown()


def _entry(base: str, files: dict[str, bytes], path: str, body: bytes, **override: Any) -> dict[str, Any]:
    files[f"/{path}"] = body
    entry = {"path": path, "url": f"{base}/{path}?{SECRET}", "sha256": hashlib.sha256(body).hexdigest()}
    entry["size"] = len(body)
    return {**entry, **override}


def fetch(dest: Path, entries: list[dict[str, Any]], *, check: bool = False) -> tuple[dict[str, Any], str]:
    """Run the module once on this machine, printing as much as Ansible can (-vvv: the arguments too); (its result,
    everything Ansible printed)."""
    play = dest.parent / "play.yml"
    play.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - phistack_fetch: {dest: '{{ fetch_dest }}', files: '{{ fetch_files }}'}\n"
        "      register: fetched\n"
        "    - ansible.builtin.copy: {content: '{{ fetched | to_json }}', dest: '{{ fetch_out }}', mode: '0600'}\n"
        "      check_mode: false\n"
    )
    out = dest.parent / "result.json"
    out.unlink(missing_ok=True)
    variables = {"fetch_dest": str(dest), "fetch_files": entries, "fetch_out": str(out),
                 "ansible_python_interpreter": sys.executable}  # fmt: skip
    env = {**os.environ, "ANSIBLE_LIBRARY": str(LIBRARY), "ANSIBLE_NOCOLOR": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    argv = [str(BIN / "ansible-playbook"), "-vvv", "-i", "localhost,", "-c", "local", "-e", json.dumps(variables)]
    done = subprocess.run(
        [*argv, *(["--check"] if check else []), str(play)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    printed = done.stdout + done.stderr
    if out.exists():
        return json.loads(out.read_text()), printed
    failed = printed.split("fatal: [localhost]: FAILED! => ", 1)
    assert len(failed) == 2, printed[-3000:]
    return {"failed": True, **json.JSONDecoder().raw_decode(failed[1])[0]}, printed


def _listing(dest: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(dest)): (p.read_bytes(), p.stat().st_mode & 0o777) for p in dest.rglob("*") if p.is_file()
    }


def test_every_missing_file_in_one_task_then_nothing_to_do(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = server
    dest = tmp_path / "bundle"
    (dest / "debs").mkdir(parents=True)
    entries = [_entry(base, files, f"debs/p{i}.deb", f"package {i}".encode() * (i + 1)) for i in range(12)]
    entries.append(_entry(base, files, "manifest-extra.json", b"{}"))
    (dest / "debs" / "p0.deb").write_bytes(b"package 0")  # already there and right: left alone

    result, printed = fetch(dest, entries)
    assert result["changed"] is True and result["present"] == 1, result
    assert result["fetched"] == sorted(e["path"] for e in entries if e["path"] != "debs/p0.deb")
    assert _listing(dest) == {e["path"]: (files["/" + e["path"]], 0o640 if e["path"] != "debs/p0.deb" else 0o644)
                              for e in entries}  # fmt: skip
    assert SECRET not in printed and SECRET not in json.dumps(result)  # the presigned URLs are credentials

    again, _ = fetch(dest, entries)
    assert again["changed"] is False and again["fetched"] == [] and again["present"] == len(entries)


def test_a_file_that_is_not_the_manifests_is_refused_and_nothing_of_it_is_left(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = server
    dest = tmp_path / "bundle"
    dest.mkdir()
    good = _entry(base, files, "good.whl", b"the wheel")
    tampered = _entry(base, files, "tampered.whl", b"evil", sha256=hashlib.sha256(b"expected").hexdigest())
    longer = _entry(base, files, "longer.whl", b"x" * 5000, size=10)  # cut off after its size, not read whole
    denied = {"path": "gone.deb", "url": f"{base}/gone.deb?{SECRET}", "sha256": "0" * 64, "size": 1}

    result, printed = fetch(dest, [good, tampered, longer, denied])
    assert result["failed"] is True
    message = result["msg"]
    assert message.startswith("3 of 4 files refused: "), message
    assert "tampered.whl: SHA-256 " in message and "is not the manifest's" in message
    assert "longer.whl: longer than the manifest's 10 bytes" in message
    assert "gone.deb: not fetched (403)" in message
    assert _listing(dest) == {"good.whl": (b"the wheel", 0o640)}  # no partial or temporary file
    assert SECRET not in printed


@pytest.mark.parametrize("path", ["../outside.deb", "/etc/outside.deb", "debs/../../outside.deb"])
def test_a_path_outside_the_bundle_folder_is_refused_before_any_transfer(
    tmp_path: Path, server: tuple[str, dict[str, bytes]], path: str
) -> None:
    base, files = server
    dest = tmp_path / "bundle"
    (dest / "debs").mkdir(parents=True)
    first = _entry(base, files, "first.deb", b"first")
    result, _ = fetch(dest, [first, {**_entry(base, files, "x.deb", b"x"), "path": path}])
    assert result["failed"] is True and result["msg"] == f"{path}: outside {dest}"
    assert _listing(dest) == {} and not (tmp_path / "outside.deb").exists()


def test_check_mode_says_what_it_would_fetch_and_writes_nothing(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = server
    dest = tmp_path / "bundle"
    dest.mkdir()
    result, _ = fetch(dest, [_entry(base, files, "a.deb", b"a")], check=True)
    assert result["changed"] is True and result["fetched"] == ["a.deb"]
    assert _listing(dest) == {}


def test_a_symlink_in_the_folder_is_replaced_never_written_through(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    """The review's: a.deb linked to b.deb (present and right) was written through, b.deb overwritten, and the two
    flipped on every run."""
    base, files = server
    dest = tmp_path / "bundle"
    dest.mkdir()
    a, b = _entry(base, files, "a.deb", b"A"), _entry(base, files, "b.deb", b"B")
    (dest / "b.deb").write_bytes(b"B")
    (dest / "a.deb").symlink_to(dest / "b.deb")
    result, _ = fetch(dest, [a, b])
    assert result["fetched"] == ["a.deb"] and not (dest / "a.deb").is_symlink()
    assert (dest / "a.deb").read_bytes() == b"A" and (dest / "b.deb").read_bytes() == b"B"
    assert fetch(dest, [a, b])[0]["changed"] is False


def test_what_a_cut_transfer_left_is_removed_and_a_fresh_host_in_check_mode_is_no_error(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = server
    dest = tmp_path / "bundle"
    dest.mkdir()
    (dest / ".fetch-abc123").write_bytes(b"half a wheel")
    result, _ = fetch(dest, [_entry(base, files, "a.whl", b"wheel")])
    assert result["changed"] is True and _listing(dest) == {"a.whl": (b"wheel", 0o640)}
    missing = tmp_path / "not-yet"
    checked, _ = fetch(missing, [_entry(base, files, "a.whl", b"wheel")], check=True)
    assert checked["changed"] is True and checked["fetched"] == ["a.whl"] and not missing.exists()
