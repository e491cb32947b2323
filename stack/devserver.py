"""An app factory for local runs and the crash test: the gateway against a local database, trusting one
public key for user tokens (instead of an IdP's JWKS).

    PHISTACK_GATEWAY_DATABASE_DSN=postgresql://phistack_app@127.0.0.1:5432/phistack \\
    PHISTACK_DEV_PUBLIC_KEY=dev-idp.pub.pem \\
    uvicorn --factory stack.devserver:app_from_env --port 8443
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from stack.app import create_app
from stack.auth import Authenticator
from stack.embeddings import MiniLMEmbedder

DEV_ISSUER, DEV_AUDIENCE = "https://dev-idp.local", "phistack-gateway"


def app_from_env() -> FastAPI:
    dsn = os.environ["PHISTACK_GATEWAY_DATABASE_DSN"]
    public_key = serialization.load_pem_public_key(Path(os.environ["PHISTACK_DEV_PUBLIC_KEY"]).read_bytes())

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(dsn)

    auth = Authenticator(DEV_ISSUER, DEV_AUDIENCE, lambda _token: public_key, "groups", connect)
    return create_app(auth, connect, MiniLMEmbedder())
