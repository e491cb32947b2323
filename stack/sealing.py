"""What the audit trail keeps of a question or an answer: never the text. Either a SHA-256 digest (an auditor can
confirm that a given text was asked, and nothing more), or AES-256-GCM ciphertext under a key the deployment
controls, which an auditor holding that key can open (`phistack-gateway audit export --key-file`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stack.errors import GatewayError

HASH_PREFIX, AES_PREFIX = "sha256:", "aes256gcm:"


class SealError(GatewayError):
    """A key file that is not a 256-bit key, or a sealed value that does not open under it."""


class Sealer(Protocol):
    def seal(self, text: str, purpose: str) -> str: ...


class HashSealer:
    """Keeps only the SHA-256 of the text."""

    def seal(self, text: str, purpose: str) -> str:
        return HASH_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


class AesGcmSealer:
    """AES-256-GCM with a random 96-bit nonce; the purpose ("query", "answer") is bound as associated data, so a
    sealed query cannot be passed off as an answer. The key id (first 8 bytes of the key's SHA-256, in hex) says
    which key opens a value after a rotation."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SealError(f"An audit encryption key must be 32 bytes (AES-256), not {len(key)}.")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: Path) -> AesGcmSealer:
        """A file holding the key as 32 raw bytes or as base64 (what `openssl rand -base64 32` writes)."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SealError(f"{path}: cannot read the audit key ({exc.strerror}).") from None
        if len(raw) != 32:
            try:
                raw = base64.b64decode(raw.strip(), validate=True)
            except binascii.Error:
                raise SealError(f"{path}: not a 32-byte key, raw or base64.") from None
        try:
            return cls(raw)
        except SealError as exc:
            raise SealError(f"{path}: {exc}") from None

    def seal(self, text: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, text.encode("utf-8"), purpose.encode())
        return f"{AES_PREFIX}{self.key_id}:{base64.b64encode(sealed).decode()}"

    def open(self, ref: str, purpose: str) -> str:
        prefix, _, rest = ref.partition(":")
        key_id, _, payload = rest.partition(":")
        if prefix + ":" != AES_PREFIX:
            raise SealError("Not an AES-GCM sealed value.")
        if key_id != self.key_id:
            raise SealError(f"Sealed under key {key_id}, not this key ({self.key_id}).")
        try:
            sealed = base64.b64decode(payload, validate=True)
            return self._aead.decrypt(sealed[:12], sealed[12:], purpose.encode()).decode("utf-8")
        except (binascii.Error, InvalidTag, UnicodeDecodeError):
            raise SealError("The sealed value does not open under this key (altered, or another purpose).") from None
