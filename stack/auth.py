"""Who is calling: an OIDC JWT from the client's IdP (verified against its JWKS) or a service API key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from stack.db import Connect
from stack.errors import GatewayError

API_KEY_PREFIX = "phk_"
MAX_SUBJECT = 256  # characters of a token's sub claim
MAX_GROUP = 200  # characters of one group name (as GroupName in stack.gateway)
MAX_GROUPS = 256  # groups one token may carry
MAX_CREDENTIAL = 16_384  # characters of a bearer token or API key


class Unauthenticated(GatewayError):
    """No credentials, or credentials that do not verify (401). The message never echoes the token."""


@dataclass(frozen=True)
class Principal:
    subject: str
    groups: tuple[str, ...]
    kind: str  # "user" (OIDC) or "service" (API key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(conn: Any, name: str, groups: list[str]) -> str:
    """A new service key for name (shown once: only its hash is stored). Run as the database owner."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO api_keys (key_hash, name, groups) VALUES (%s, %s, %s)", (hash_api_key(key), name, groups))
    return key


def revoke_api_key(conn: Any, name: str) -> bool:
    """Revoke name's key; False if there is no live key of that name."""
    row = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL RETURNING name", (name,)
    ).fetchone()
    return row is not None


def _algorithms(key: Any) -> list[str]:
    """The one algorithm a verification key is for."""
    if isinstance(key, jwt.PyJWK):
        return [key.algorithm_name]
    if isinstance(key, rsa.RSAPublicKey):
        return ["RS256"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ["ES256"]
    raise TypeError(f"unusable verification key {type(key).__name__}")


def _is_name(value: object, limit: int) -> bool:
    """A non-empty, bounded string of printable characters (no control, format, surrogate or separator
    characters but the space): what may be written to the audit trail and shown to an auditor."""
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


class Authenticator:
    def __init__(
        self,
        issuer: str,
        audience: str,
        signing_key: Callable[[str], Any],
        groups_claim: str,
        connect: Connect,
    ) -> None:
        self.issuer, self.audience, self.groups_claim = issuer, audience, groups_claim
        self.signing_key = signing_key  # token -> public key (a PyJWKClient's, or a fixed one in tests)
        self.connect = connect

    def __call__(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthenticated("Authentication required: send Authorization: Bearer <token or API key>.")
        credential = authorization.removeprefix("Bearer ").strip()
        if not credential or len(credential) > MAX_CREDENTIAL:
            raise Unauthenticated("The credential is empty or too long.")
        if credential.startswith(API_KEY_PREFIX):
            return self._api_key(credential)
        return self._jwt(credential)

    def _jwt(self, token: str) -> Principal:
        """Verified with the IdP's key for that token, by that key's own algorithm only: a header naming another
        algorithm (ES256 against an RSA key, HS256, none) is refused before any signature check."""
        try:
            key = self.signing_key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=_algorithms(key),
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # a library's refusal of untrusted input: never a 500
            raise Unauthenticated(f"The token was refused ({exc.__class__.__name__}).") from None
        subject = claims["sub"]
        if not _is_name(subject, MAX_SUBJECT):
            raise Unauthenticated(f"The token's sub claim is not a printable name of at most {MAX_SUBJECT} characters.")
        groups = claims.get(self.groups_claim) or []
        if not isinstance(groups, list) or len(groups) > MAX_GROUPS or not all(_is_name(g, MAX_GROUP) for g in groups):
            raise Unauthenticated(
                f"The token's {self.groups_claim} claim is not a list of at most {MAX_GROUPS} printable group names."
            )
        return Principal(subject, tuple(groups), "user")

    def _api_key(self, key: str) -> Principal:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT name, groups FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL", (hash_api_key(key),)
            ).fetchone()
        if row is None:
            raise Unauthenticated("The API key is unknown or revoked.")
        return Principal(f"service:{row[0]}", tuple(row[1]), "service")
