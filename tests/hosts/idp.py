"""A stand-in for the client's IdP in the Molecule test (named as such: the real IdP is the client's): an RSA
signing key kept in the scenario's state folder, its public JWKS for the rag_gateway role to publish, and tokens
for the verify step to log in with.

    python -m tests.hosts.idp keys STATE     # writes STATE/idp-key.pem (once) and STATE/idp-jwks.json
    python -m tests.hosts.idp token STATE ISSUER AUDIENCE SUBJECT GROUP...
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "molecule-idp-1"


def keys(state: Path) -> Path:
    pem = state / "idp-key.pem"
    if not pem.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pem.chmod(0o600)
    private = serialization.load_pem_private_key(pem.read_bytes(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    out = state / "idp-jwks.json"
    out.write_text(json.dumps({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}))
    return out


def token(state: Path, issuer: str, audience: str, subject: str, groups: list[str]) -> str:
    private = serialization.load_pem_private_key((state / "idp-key.pem").read_bytes(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "exp": now + 600, "groups": groups}
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": KID})


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "keys":
        print(keys(Path(argv[1])))  # noqa: T201
        return 0
    if len(argv) >= 6 and argv[0] == "token":
        print(token(Path(argv[1]), argv[2], argv[3], argv[4], argv[5:]))  # noqa: T201
        return 0
    print(__doc__, file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
