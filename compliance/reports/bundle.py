"""The signed bundle: manifest.json (SHA-256 of every file), manifest.sig (Ed25519 over the manifest's exact
bytes) and signing-key.pub.pem. The private key is the deployment's: created on first use under
``~/.config/phistack/keys`` (or $PHISTACK_KEY_DIR), mode 0600, never written into the bundle.

With ``--sign-with kms:ALIAS`` an AWS KMS asymmetric key (ECC_NIST_P256) signs instead, so the private key never
leaves KMS. KMS signs a short statement, the manifest's SHA-256 in hex, with ECDSA_SHA_256 in RAW mode (the
manifest itself can exceed KMS's 4 KB message limit). Verification chooses by the public key's type.

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
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from compliance.errors import IncompleteError, InputError

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


PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: PublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def kms_statement(manifest: bytes) -> bytes:
    """What a KMS key signs: the manifest's SHA-256, hex (64 bytes, whatever the manifest's size)."""
    return hashlib.sha256(manifest).hexdigest().encode()


class Signer(Protocol):
    def sign(self, manifest: bytes) -> bytes: ...

    def public_key(self) -> PublicKey: ...


class FileSigner:
    """The deployment's Ed25519 key, on disk outside the bundle."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key

    def sign(self, manifest: bytes) -> bytes:
        return self.key.sign(manifest)

    def public_key(self) -> PublicKey:
        return self.key.public_key()


class KmsSigner:
    """An AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY): the private key never leaves KMS."""

    def __init__(self, kms: Any, key_id: str) -> None:
        import botocore.exceptions

        self.kms, self.key_id = kms, key_id
        try:
            response = kms.get_public_key(KeyId=key_id)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise IncompleteError(f"KMS key {key_id}: kms:GetPublicKey answered {code}.") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise IncompleteError(f"KMS key {key_id}: {exc}") from None
        key = serialization.load_der_public_key(response["PublicKey"])
        p256 = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
        if not p256 or response.get("KeyUsage") != "SIGN_VERIFY":
            kind = response.get("KeySpec") or type(key).__name__
            raise InputError(
                f"KMS key {key_id} is {kind}/{response.get('KeyUsage')}; "
                "bundles are signed with an ECC_NIST_P256 SIGN_VERIFY key."
            )
        assert isinstance(key, ec.EllipticCurvePublicKey)  # checked just above
        self._public = key

    def sign(self, manifest: bytes) -> bytes:
        import botocore.exceptions

        try:
            response = self.kms.sign(
                KeyId=self.key_id, Message=kms_statement(manifest), MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
            )
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise IncompleteError(f"KMS key {self.key_id}: kms:Sign answered {code}.") from None
        signature: bytes = response["Signature"]
        return signature

    def public_key(self) -> PublicKey:
        return self._public


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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


def sign_bundle(bundle: Path, signer: Signer | Ed25519PrivateKey) -> str:
    """Write the manifest, its signature and the public key; return the key's fingerprint."""
    if isinstance(signer, Ed25519PrivateKey):
        signer = FileSigner(signer)
    data = manifest_bytes(bundle)
    signature = signer.sign(data)
    (bundle / MANIFEST).write_bytes(data)
    (bundle / SIGNATURE).write_text(base64.b64encode(signature).decode() + "\n", encoding="ascii")
    (bundle / PUBLIC_KEY).write_bytes(public_pem(signer.public_key()))
    return fingerprint(signer.public_key())


def _check_signature(key: PublicKey, signature: bytes, manifest: bytes) -> None:
    if isinstance(key, Ed25519PublicKey):
        key.verify(signature, manifest)
    else:
        key.verify(signature, kms_statement(manifest), ec.ECDSA(hashes.SHA256()))


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    key_fingerprint: str = ""
    trusted_key: bool = False

    @property
    def intact(self) -> bool:
        return not self.problems


def _read(path: Path, what: str, limit: int) -> bytes:
    from userfiles import UserFileError, read_bytes

    try:
        return read_bytes(path, what, limit)
    except UserFileError as exc:
        raise InputError(str(exc)) from None


def _load_public(path: Path) -> PublicKey:
    try:
        key: Any = serialization.load_pem_public_key(_read(path, "public key file", 65_536))
    except ValueError as exc:
        raise InputError(f"{path}: is not a PEM public key ({exc}).") from None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path}: is neither an Ed25519 nor a P-256 (KMS) public key.")
    return key


def verify_bundle(bundle: Path, trusted: Path | None = None) -> Verification:
    if not bundle.is_dir():
        raise InputError(f"{bundle}: is not a directory.")
    if not (bundle / MANIFEST).is_file():
        raise InputError(f"{bundle}: has no {MANIFEST}; it is not a phistack bundle.")
    result = Verification(trusted_key=trusted is not None)
    data = _read(bundle / MANIFEST, "manifest", 16_000_000)
    try:
        listed: dict[str, str] = json.loads(data)["files"]
    except (ValueError, KeyError, TypeError):
        listed = {}
    if not isinstance(listed, dict) or not listed or not all(isinstance(v, str) for v in listed.values()):
        raise InputError(f"{bundle / MANIFEST}: is not a phistack manifest (no list of files and their SHA-256).")
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
        if not (bundle / SIGNATURE).exists():
            raise FileNotFoundError(SIGNATURE)
        signed = _read(bundle / SIGNATURE, "signature", 4096)  # a directory or FIFO: not a bundle, never waited on
        signature = base64.b64decode(signed.decode("ascii").strip(), validate=True)
        _check_signature(key, signature, data)
    except FileNotFoundError:
        result.problems.append(f"{SIGNATURE}: missing.")
    except (InvalidSignature, binascii.Error, ValueError, UnicodeDecodeError):
        result.problems.append(f"{SIGNATURE}: does not verify {MANIFEST} with key {result.key_fingerprint}.")
    present = _files(bundle)
    for rel, digest in sorted(listed.items()):
        if rel not in present:
            result.problems.append(f"{rel}: listed in the manifest but missing.")
        elif _sha256(present[rel]) != digest:
            result.problems.append(f"{rel}: SHA-256 differs from the manifest (changed after signing).")
    for rel in sorted(set(present) - set(listed)):
        result.problems.append(f"{rel}: not in the manifest (added after signing).")
    return result
