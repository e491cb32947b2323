"""Database credentials that are not in the DSN: IAM authentication tokens for Aurora, and the owner's secret
from Secrets Manager for migrations.

An RDS IAM token is a SigV4-presigned `connect` request for one host, port and user, signed with the instance
profile's credentials, valid for 15 minutes, checked only when a connection is opened. The pool asks for a
password for every new connection; one token serves every connection opened in the next `renew_after_s`
seconds, then a new one is signed (before the old one expires, with room for a slow handshake). Signing is local
(no request to AWS); only the credentials come from the instance's metadata service, through botocore.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg.conninfo

from stack.errors import DatabaseError

TOKEN_LIFETIME_S = 900  # AWS: an RDS IAM authentication token is valid for 15 minutes
RENEW_AFTER_S = 600  # sign a new one after 10, so none is used within 5 minutes of its expiry
MAX_SECRET_BYTES = 65_536  # Secrets Manager's own limit on a secret value


def _dsn_parts(dsn: str) -> dict[str, str]:
    """The DSN's keywords (either form); DatabaseError when it is not a connection string."""
    try:
        return {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items() if v is not None}
    except psycopg.ProgrammingError:
        raise DatabaseError("database DSN: not a valid connection string") from None


class IamTokens:
    """`password()` → a current RDS IAM authentication token for the DSN's host, port and user."""

    def __init__(
        self,
        dsn: str,
        region: str | None = None,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        renew_after_s: float = RENEW_AFTER_S,
    ) -> None:
        if not 0 < renew_after_s < TOKEN_LIFETIME_S:
            raise ValueError(f"renew_after_s must be between 0 and {TOKEN_LIFETIME_S}")
        parts = _dsn_parts(dsn)
        if {"password", "passfile"} & parts.keys():
            raise DatabaseError("database DSN: has a password or passfile, but IAM authentication is on")
        for key in ("host", "user"):
            if key not in parts:
                raise DatabaseError(f"database DSN: names no {key}")
        self.host, self.user, self.port = parts["host"], parts["user"], int(parts.get("port", "5432"))
        if client is None:
            import boto3

            client = boto3.session.Session(region_name=region).client("rds")
        self._client, self._clock, self._renew_after = client, clock, renew_after_s
        self._region = region or client.meta.region_name
        self._lock = threading.Lock()
        self._token: str | None = None
        self._signed_at = 0.0
        self.signed = 0  # how many tokens this process signed (renewals are visible in tests and metrics)

    def password(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._signed_at >= self._renew_after:
                self._token = self._sign()
                self._signed_at = now
                self.signed += 1
            return self._token

    def connect_kwargs(self) -> dict[str, Any]:
        """What the pool passes to each new connection."""
        return {"password": self.password()}

    def _sign(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            token: str = self._client.generate_db_auth_token(
                DBHostname=self.host, Port=self.port, DBUsername=self.user, Region=self._region
            )
        except (BotoCoreError, ClientError) as exc:  # no credentials, no region: the instance profile is missing
            raise DatabaseError(f"cannot sign an IAM database token: {exc.__class__.__name__}") from None
        return token


def owner_credentials(secret_id: str, region: str | None = None, *, client: Any = None) -> dict[str, str]:
    """The database owner's user and password from an RDS-managed master secret (JSON with username and
    password), for `migrate`; never logged, never written to disk."""
    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        import boto3

        client = boto3.session.Session(region_name=region).client("secretsmanager")
    try:
        raw = client.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise DatabaseError(f"--owner-secret {secret_id}: {code}") from None
    except BotoCoreError as exc:
        raise DatabaseError(f"--owner-secret {secret_id}: {exc.__class__.__name__}") from None
    try:
        if len(raw) > MAX_SECRET_BYTES:
            raise ValueError
        value = json.loads(raw)
        user, password = value["username"], value["password"]
        if not (isinstance(user, str) and isinstance(password, str) and user and password):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise DatabaseError(f"--owner-secret {secret_id}: not a JSON object with username and password") from None
    return {"user": user, "password": password}
