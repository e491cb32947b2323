"""The signed bundle: manifest.json (SHA-256 of every file), manifest.sig (Ed25519 over the manifest's exact
bytes) and signing-key.pub.pem. The private key is the deployment's: created on first use under
``~/.config/phistack/keys`` (or $PHISTACK_KEY_DIR), mode 0600, never written into the bundle.

Verification trusts a public key the auditor got elsewhere (``--public-key``); without one it can only say
the bundle is consistent with the key inside it, and says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from compliance.errors import InputError

MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "signing-key.pub.pem"
SIGNING_FILES = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY})
SCHEMA = "phistack/manifest/v1"


def default_key_path(name: str) -> Path:
    base = Path(os.environ.get("PHISTACK_KEY_DIR") or Path.home() / ".config" / "phistack" / "keys")
    return base / f"{name}.ed25519.pem"


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path}: is not an unencrypted PEM private key ({exc}).") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(f"{path}: is a {type(key).__name__}, not an Ed25519 key.")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(bundle: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix()
        if path.is_symlink():
            raise InputError(f"{path}: bundles hold plain files only, not links.")
        if path.is_file() and rel not in SIGNING_FILES:
            out[rel] = path
    return out


def manifest_bytes(bundle: Path) -> bytes:
    files = {rel: _sha256(path) for rel, path in _files(bundle).items()}
    document = {"schema": SCHEMA, "algorithm": "sha256", "files": files}
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def sign_bundle(bundle: Path, key: Ed25519PrivateKey) -> str:
    """Write the manifest, its signature and the public key; return the key's fingerprint."""
    data = manifest_bytes(bundle)
    (bundle / MANIFEST).write_bytes(data)
    (bundle / SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode() + "\n", encoding="ascii")
    (bundle / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
    return fingerprint(key.public_key())


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    key_fingerprint: str = ""
    trusted_key: bool = False

    @property
    def intact(self) -> bool:
        return not self.problems


def _load_public(path: Path) -> Ed25519PublicKey:
    try:
        key: Any = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: the public key file does not exist.") from None
    except ValueError as exc:
        raise InputError(f"{path}: is not a PEM public key ({exc}).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path}: is not an Ed25519 public key.")
    return key


def verify_bundle(bundle: Path, trusted: Path | None = None) -> Verification:
    if not bundle.is_dir():
        raise InputError(f"{bundle}: is not a directory.")
    if not (bundle / MANIFEST).is_file():
        raise InputError(f"{bundle}: has no {MANIFEST}; it is not a phistack bundle.")
    result = Verification(trusted_key=trusted is not None)
    data = (bundle / MANIFEST).read_bytes()
    if trusted is not None:
        key = _load_public(trusted)
        bundled = bundle / PUBLIC_KEY
        if bundled.is_file() and bundled.read_bytes().strip() != public_pem(key).strip():
            result.problems.append(f"{PUBLIC_KEY}: is not the public key given ({trusted}).")
    elif (bundle / PUBLIC_KEY).is_file():
        key = _load_public(bundle / PUBLIC_KEY)
    else:
        result.problems.append(f"{PUBLIC_KEY}: missing, and no --public-key was given.")
        return result
    result.key_fingerprint = fingerprint(key)
    try:
        signature = base64.b64decode((bundle / SIGNATURE).read_text(encoding="ascii").strip(), validate=True)
        key.verify(signature, data)
    except FileNotFoundError:
        result.problems.append(f"{SIGNATURE}: missing.")
    except (InvalidSignature, binascii.Error, ValueError, UnicodeDecodeError):
        result.problems.append(f"{SIGNATURE}: does not verify {MANIFEST} with key {result.key_fingerprint}.")
    try:
        listed: dict[str, str] = json.loads(data)["files"]
    except (ValueError, KeyError, TypeError):
        result.problems.append(f"{MANIFEST}: is not a phistack manifest.")
        return result
    present = _files(bundle)
    for rel, digest in sorted(listed.items()):
        if rel not in present:
            result.problems.append(f"{rel}: listed in the manifest but missing.")
        elif _sha256(present[rel]) != digest:
            result.problems.append(f"{rel}: SHA-256 differs from the manifest (changed after signing).")
    for rel in sorted(set(present) - set(listed)):
        result.problems.append(f"{rel}: not in the manifest (added after signing).")
    return result
