"""A random password and its SCRAM-SHA-256 verifier (RFC 7677, PostgreSQL's format), as JSON on stdout. Run on
the host, so the password is born where it is used; PostgreSQL only ever receives the verifier."""

import base64
import hashlib
import hmac
import json
import secrets

ITERATIONS = 4096


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


password = secrets.token_urlsafe(32)
salt = secrets.token_bytes(16)
salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
server_key = hmac.digest(salted, b"Server Key", "sha256")
verifier = f"SCRAM-SHA-256${ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
print(json.dumps({"password": password, "verifier": verifier}))  # noqa: T201  (read by the role, no_log)
