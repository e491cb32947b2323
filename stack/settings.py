"""Gateway settings, read from the environment (PHISTACK_GATEWAY_*) when asked, never at import time."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHISTACK_GATEWAY_", frozen=True)

    database_dsn: str = Field(description="PostgreSQL DSN of the app role (phistack_app), TLS in production.")
    oidc_issuer: str = Field(description="The client IdP's issuer URL; tokens must carry it as iss.")
    oidc_audience: str = Field(description="The audience the gateway's tokens are issued for.")
    oidc_jwks_url: str = Field(description="Where the IdP publishes its signing keys (JWKS).")
    groups_claim: str = Field("groups", description="Token claim listing the caller's groups.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger request bodies are refused (413).")
    default_k: int = Field(5, ge=1, le=50)

    @field_validator("database_dsn", "oidc_issuer", "oidc_audience", "oidc_jwks_url")
    @classmethod
    def _no_placeholders(cls, value: str) -> str:
        if not value or "changeme" in value.lower() or value.strip() in ("TODO", "xxx"):
            raise ValueError("is a placeholder; set the real value")
        return value
