"""The bundle's manifest: every file with its SHA-256 and size. The hosts check each file against it before use;
the manifest's own SHA-256 is what the inventory pins (a changed manifest is a different bundle)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.errors import BundleError

FORMAT = "phistack/bundle/v1"
NAME = "manifest.json"


@dataclass(frozen=True)
class Entry:
    path: str  # relative, POSIX
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    client: str
    version: str
    created: str
    entries: tuple[Entry, ...]

    def to_bytes(self) -> bytes:
        body = {"format": FORMAT, **asdict(self), "entries": [asdict(e) for e in self.entries]}
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def scan(root: Path) -> tuple[Entry, ...]:
    """Every regular file under root but the manifest, sorted. Links and special files are refused: a bundle
    holds nothing that could point outside itself."""
    entries = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BundleError(f"{relative}: not a regular file (links and special files are not bundled).")
        if path.is_file() and relative != NAME:
            entries.append(Entry(relative, sha256_file(path), path.stat().st_size))
    return tuple(entries)


def write(root: Path, client: str, version: str) -> tuple[Manifest, str]:
    """Write root/manifest.json; return it and its SHA-256 (the value to pin)."""
    manifest = Manifest(client, version, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), scan(root))
    data = manifest.to_bytes()
    (root / NAME).write_bytes(data)
    return manifest, hashlib.sha256(data).hexdigest()


def load(path: Path, expected_sha256: str | None = None) -> Manifest:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the manifest ({exc.strerror}).") from None
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise BundleError(f"{path}: the manifest is not the one pinned (SHA-256 differs).")
    try:
        body = json.loads(data)
        if body.get("format") != FORMAT:
            raise BundleError(f"{path}: format {body.get('format')!r}, expected {FORMAT!r}.")
        entries = tuple(Entry(str(e["path"]), str(e["sha256"]), int(e["size"])) for e in body["entries"])
        return Manifest(str(body["client"]), str(body["version"]), str(body["created"]), entries)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleError(f"{path}: not a phistack bundle manifest.") from None


def verify(root: Path, manifest: Manifest) -> None:
    """Raise BundleError naming the first file missing, altered or not in the manifest."""
    found = {e.path: e for e in scan(root)}
    for entry in manifest.entries:
        seen = found.pop(entry.path, None)
        if seen is None:
            raise BundleError(f"{entry.path}: in the manifest but missing from the bundle.")
        if seen.sha256 != entry.sha256:
            raise BundleError(f"{entry.path}: SHA-256 differs from the manifest (altered or corrupted).")
    if found:
        raise BundleError(f"{sorted(found)[0]}: in the bundle but not in the manifest.")
