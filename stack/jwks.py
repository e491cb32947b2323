"""The IdP's signing keys (a JWKS), from where a host with no internet egress can read them.

Sources, named by one setting (PHISTACK_GATEWAY_OIDC_JWKS_URL):
- `file:///etc/phistack/idp-jwks.json`: a file the deploy engineer publishes (e.g. through Ansible);
- `ssm:/phistack/<client>/idp-jwks`: an SSM parameter, read through the VPC's SSM interface endpoint;
- `https://idp.clinic.internal/jwks.json`: a URL on the client's private network, when the access path reaches one.

The keys are read once at start (a source that cannot be read, or holds no usable key, stops `serve` with one line
naming it), then re-read on a timer in a background thread, so a rotated key is picked up without a restart. A
failed refresh keeps the last good keys and is logged by source and error type only. A token naming a key id the
set does not hold triggers at most one early refresh per `min_refresh_s` (the IdP may have rotated in between).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt

from stack.errors import GatewayError

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 256 * 1024  # a real IdP's set is a few KB; anything far larger is not a key set
FETCH_TIMEOUT_S = 10.0
SCHEMES = ("file", "ssm", "https")  # the settings refuse any other


class JwksUnavailable(GatewayError):
    """The JWKS source could not be read or holds no usable key. The message names the source, never a token."""


@dataclass(frozen=True)
class KeySet:
    keys: dict[str, jwt.PyJWK]  # by key id

    def only(self) -> jwt.PyJWK | None:
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None


def parse(raw: bytes, source: str) -> dict[str, jwt.PyJWK]:
    """Signing keys by kid. Keys for other uses (enc) or of unsupported types are skipped; none left is an error."""
    if len(raw) > MAX_JWKS_BYTES:
        raise JwksUnavailable(f"{source}: the key set is over {MAX_JWKS_BYTES} bytes.")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise JwksUnavailable(f"{source}: not a JSON key set.") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksUnavailable(f"{source}: not a JWKS (no 'keys' list).")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC"):
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        keys[str(entry.get("kid", ""))] = key
    if not keys:
        raise JwksUnavailable(f"{source}: holds no RSA or EC signing key.")
    return keys


def _read_file(path: str, source: str) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            return handle.read(MAX_JWKS_BYTES + 1)
    except OSError as exc:
        raise JwksUnavailable(f"{source}: cannot be read ({exc.strerror or exc.__class__.__name__}).") from None


def _read_ssm(name: str, source: str, client: Any) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client.get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise JwksUnavailable(f"{source}: SSM refused ({code}).") from None
    except BotoCoreError as exc:
        raise JwksUnavailable(f"{source}: SSM cannot be reached ({exc.__class__.__name__}).") from None
    return str(answer["Parameter"]["Value"]).encode()


def _read_https(url: str, source: str) -> bytes:
    import httpx

    try:
        with httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as http:
            with http.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise JwksUnavailable(f"{source}: answered HTTP {response.status_code}.")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        break
                return bytes(body)
    except httpx.HTTPError as exc:
        raise JwksUnavailable(f"{source}: cannot be fetched ({exc.__class__.__name__}).") from None


def reader(source: str, ssm_client: Callable[[], Any] | None = None) -> Callable[[], bytes]:
    """A function that reads the raw key set from source; an unknown scheme is refused at once."""
    parsed = urlparse(source)
    if parsed.scheme == "file" and parsed.path:
        return lambda: _read_file(parsed.path, source)
    if parsed.scheme == "ssm" and parsed.path:
        make = ssm_client or _default_ssm_client
        client: list[Any] = []  # made on first read: never at import or settings time

        def read_ssm() -> bytes:
            if not client:
                client.append(make())
            return _read_ssm(parsed.path, source, client[0])

        return read_ssm
    if parsed.scheme == "https" and parsed.netloc:
        return lambda: _read_https(source, source)
    raise JwksUnavailable(f"{source}: not a JWKS source; use file:///path, ssm:/parameter/name or https://host/path.")


def _default_ssm_client() -> Any:
    import boto3

    return boto3.session.Session().client("ssm")


class JwksKeys:
    """The current key set, refreshed every refresh_s by a daemon thread; call `signing_key(token)` per request."""

    def __init__(
        self,
        source: str,
        refresh_s: float = 300.0,
        min_refresh_s: float = 30.0,
        read: Callable[[], bytes] | None = None,
    ) -> None:
        self.source, self.refresh_s, self.min_refresh_s = source, refresh_s, min_refresh_s
        self._read = read or reader(source)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_attempt = time.monotonic()
        self.current = KeySet(parse(self._read(), source))  # the first read must succeed

    def refresh(self) -> bool:
        """Re-read the source; keep the last good keys when it fails. True when the new set was taken."""
        with self._lock:
            self._last_attempt = time.monotonic()
        try:
            keys = parse(self._read(), self.source)
        except JwksUnavailable as exc:
            log.warning("JWKS refresh failed; keeping the previous keys: %s", exc)
            return False
        self.current = KeySet(keys)
        return True

    def start(self) -> JwksKeys:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="jwks-refresh", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.refresh()

    def signing_key(self, token: str) -> jwt.PyJWK:
        """The key the token names (by kid; a set of one key serves tokens without kid). Raises PyJWTError."""
        kid = jwt.get_unverified_header(token).get("kid")  # raises DecodeError for a malformed token
        key = self._find(kid)
        if key is None and self._may_refresh_early():
            self.refresh()
            key = self._find(kid)
        if key is None:
            raise jwt.InvalidKeyError("The token's key id is not in the IdP's key set.")
        return key

    def _find(self, kid: object) -> jwt.PyJWK | None:
        keys = self.current
        if kid is None:
            return keys.only()
        return keys.keys.get(str(kid)) if isinstance(kid, str) else None

    def _may_refresh_early(self) -> bool:
        with self._lock:
            return time.monotonic() - self._last_attempt >= self.min_refresh_s
