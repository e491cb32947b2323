"""A stand-in for the client's IdP on the local test host (Molecule and `phistack demo --host`; named as such: the
real IdP is the client's): an RSA signing key kept in a state folder, its public JWKS for the rag_gateway role to
publish, and tokens for a clinic user to log in with.

    python -m phistack.testhost.idp keys STATE     # writes STATE/idp-key.pem (once) and STATE/idp-jwks.json
    python -m phistack.testhost.idp token STATE ISSUER AUDIENCE SUBJECT GROUP...
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "testhost-idp-1"
ISSUER = "https://idp.phistack.test/"  # the stand-in's issuer (.test: a name reserved for testing)
AUDIENCE = "phistack"


def _private(pem: Path) -> rsa.RSAPrivateKey:
    private = serialization.load_pem_private_key(pem.read_bytes(), None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError(f"{pem}: not an RSA key")
    return private


def keys(state: Path) -> Path:
    pem = state / "idp-key.pem"
    if not pem.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        text = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with os.fdopen(os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:  # never readable
            file.write(text)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_private(pem).public_key()))
    out = state / "idp-jwks.json"
    out.write_text(json.dumps({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}))
    return out


def token(state: Path, issuer: str, audience: str, subject: str, groups: list[str]) -> str:
    private = _private(state / "idp-key.pem")
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
