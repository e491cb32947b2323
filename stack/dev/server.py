"""An app factory for local runs and the crash test: the gateway against a local database, trusting one public
key for user tokens instead of an IdP's JWKS. Every other setting comes from PHISTACK_GATEWAY_* as in production.

    PHISTACK_GATEWAY_DATABASE_DSN=postgresql://phistack_app@127.0.0.1:5432/phistack \\
    PHISTACK_GATEWAY_LLM_URL=http://127.0.0.1:8080 PHISTACK_GATEWAY_LLM_MODEL=smollm2 \\
    PHISTACK_DEV_PUBLIC_KEY=dev-idp.pub.pem \\
    uvicorn --factory stack.dev.server:app_from_env --port 8443
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from stack.app import create_app
from stack.settings import GatewaySettings
from stack.wiring import build_gateway

DEV_ISSUER, DEV_AUDIENCE = "https://dev-idp.local", "phistack-gateway"


def app_from_env() -> FastAPI:
    public_key = serialization.load_pem_public_key(Path(os.environ["PHISTACK_DEV_PUBLIC_KEY"]).read_bytes())
    settings = GatewaySettings(
        oidc_issuer=DEV_ISSUER, oidc_audience=DEV_AUDIENCE, oidc_jwks_url="file:dev-key-only"
    )  # database_dsn and the rest come from the environment
    return create_app(build_gateway(settings, lambda _token: public_key))
