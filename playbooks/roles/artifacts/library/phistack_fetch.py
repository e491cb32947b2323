#!/usr/bin/python
"""An Ansible module: fetch the bundle's files from their presigned URLs in one task, each kept only if its SHA-256
is the manifest's. One task instead of one `get_url` per file: a bundle holds about 400 files, and a loop paid a
module start and a connection for each (150 s of a 10-minute converge on the test host), however small the file.
The controller hands the URLs in; nothing about them (they are bearer credentials until they expire) is returned."""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

DOCUMENTATION = r"""
module: phistack_fetch
short_description: Fetch files from presigned URLs, each kept only if its SHA-256 matches
description:
  - Files already present with the expected SHA-256 are left alone (changed=false when all are).
  - A file is written to a temporary name beside its destination, hashed as it streams, and moved into place
    only when its SHA-256 matches; a mismatch or a failed transfer leaves nothing at the destination.
  - Paths must stay inside O(dest). URLs are never returned or logged.
options:
  dest: {description: The folder the paths are relative to; it must exist., type: path, required: true}
  files:
    description:
      - "[{path, url, sha256, size}], as `phistack bundle urls` lists them."
      - A transfer longer than its size is cut off and refused.
    type: list
    elements: dict
    required: true
  mode: {description: Mode of each file written., type: str, default: "0640"}
  workers: {description: Transfers at once., type: int, default: 4}
  timeout: {description: Seconds a transfer may stall., type: int, default: 60}
"""

CHUNK = 1 << 20


def _inside(dest: str, path: str) -> str:
    """Where a path lands: the name itself (a symlink there is replaced, never written through), in a folder that
    is inside ``dest`` once every link on the way is followed."""
    full = os.path.normpath(os.path.join(dest, path))
    folder = os.path.realpath(os.path.dirname(full))
    root = os.path.realpath(dest)
    if (
        os.path.isabs(path)
        or not (folder == root or folder.startswith(root + os.sep))
        or full == os.path.normpath(dest)
    ):
        raise ValueError(f"{path}: outside {dest}")
    return os.path.join(folder, os.path.basename(full))


def _digest(full: str) -> str | None:
    if not os.path.isfile(full) or os.path.islink(full):
        return None
    with open(full, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _fetch(item: dict[str, Any], full: str, mode: int, timeout: int) -> str | None:
    """Download one file into place. None when done, else why not (naming the path, never the URL)."""
    temporary = ""
    try:
        fd, temporary = tempfile.mkstemp(prefix=".fetch-", dir=os.path.dirname(full))
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            response = open_url(item["url"], timeout=timeout, validate_certs=True, follow_redirects="none")
            limit, got = item.get("size"), 0
            while block := response.read(CHUNK):
                got += len(block)
                if limit is not None and got > limit:
                    return f"{item['path']}: longer than the manifest's {limit} bytes"
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != item["sha256"]:
            return f"{item['path']}: SHA-256 {digest.hexdigest()} is not the manifest's {item['sha256']}"
        os.chmod(temporary, mode)
        if os.geteuid() == 0:
            os.chown(temporary, 0, 0)
        os.replace(temporary, full)
        temporary = ""
        return None
    except Exception as exc:  # noqa: BLE001 - each transfer's failure is reported by path, then the task fails
        # An HTTP status (403: the URL expired or was refused), else the reason (DNS, proxy, TLS), never the URL.
        reason = getattr(exc, "code", None) or f"{type(exc).__name__}: {getattr(exc, 'reason', '') or ''}".rstrip(": ")
        return f"{item['path']}: not fetched ({reason})"
    finally:
        if temporary:
            os.unlink(temporary)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "str", "required": True},
                    "url": {"type": "str", "required": True, "no_log": True},
                    "sha256": {"type": "str", "required": True},
                    "size": {"type": "int"},
                },
            },
            "mode": {"type": "str", "default": "0640"},
            "workers": {"type": "int", "default": 4},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    dest, files = module.params["dest"], module.params["files"]
    if not os.path.isdir(dest):
        if module.check_mode:  # a first converge in check mode: the folders are not made, everything would come
            module.exit_json(changed=True, fetched=sorted(str(i["path"]) for i in files), present=0)
        module.fail_json(msg=f"{dest}: not a folder")
    wanted: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()
    try:
        for item in files:
            full = _inside(dest, str(item["path"]))
            if full in seen:
                continue  # the same file listed twice: fetched once
            seen.add(full)
            if _digest(full) != item["sha256"]:
                wanted.append((item, full))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not module.check_mode:  # what a transfer cut off (a dropped session, a kill) left behind
        for folder in {os.path.dirname(full) for full in seen}:
            for name in os.listdir(folder) if os.path.isdir(folder) else []:
                if name.startswith(".fetch-"):
                    os.unlink(os.path.join(folder, name))
    fetched = sorted(str(item["path"]) for item, _ in wanted)
    if module.check_mode or not wanted:
        module.exit_json(changed=bool(wanted), fetched=fetched, present=len(files) - len(wanted))
    mode, timeout = int(module.params["mode"], 8), module.params["timeout"]
    with ThreadPoolExecutor(max_workers=max(1, module.params["workers"])) as pool:
        failures = [f for f in pool.map(lambda w: _fetch(w[0], w[1], mode, timeout), wanted) if f]
    if failures:
        module.fail_json(msg=f"{len(failures)} of {len(wanted)} files refused: " + "; ".join(sorted(failures)[:5]))
    module.exit_json(changed=True, fetched=fetched, present=len(files) - len(wanted))


if __name__ == "__main__":
    main()
