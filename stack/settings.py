"""Gateway settings, read from the environment (PHISTACK_GATEWAY_*) when asked, never at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stack.extract import OCR_LANGUAGES


def not_placeholder(value: str) -> str:
    if not value or "changeme" in value.lower() or value.strip() in ("TODO", "xxx"):
        raise ValueError("is a placeholder; set the real value")
    return value


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHISTACK_GATEWAY_", frozen=True)

    database_dsn: str = Field(description="PostgreSQL DSN of the app role (phistack_app), TLS in production.")
    oidc_issuer: str = Field(description="The client IdP's issuer URL; tokens must carry it as iss.")
    oidc_audience: str = Field(description="The audience the gateway's tokens are issued for.")
    oidc_jwks_url: str = Field(
        description="The IdP's signing keys (JWKS): file:///path, ssm:/parameter/name (read through the VPC "
        "endpoint) or https://host/path on the client's private network."
    )
    oidc_jwks_refresh_s: float = Field(300.0, ge=10, le=86400, description="Seconds between re-reads of the JWKS.")
    db_pool_size: int = Field(10, ge=1, le=200, description="Most database connections the gateway holds open.")
    database_iam_auth: bool = Field(
        False, description="Log in with an RDS IAM token (Aurora), signed per connection and renewed before expiry."
    )
    database_region: str | None = Field(
        None, description="The database's region, for IAM tokens (default: the instance's)."
    )
    groups_claim: str = Field("groups", description="Token claim listing the caller's groups.")
    admin_groups: tuple[str, ...] = Field((), description="Groups that may create collections (JSON list).")
    llm_url: str | None = Field(None, description="OpenAI-compatible engine (vLLM), e.g. https://10.0.1.5:8000.")
    llm_model: str = Field("llama-3.1-8b-instruct", description="The engine's served model name.")
    llm_timeout_s: float = Field(120.0, gt=0, description="Longest wait for one answer.")
    llm_ca_file: Path | None = Field(None, description="CA that signed the engine's certificate.")
    llm_client_cert: Path | None = Field(None, description="The gateway's client certificate (mutual TLS).")
    llm_client_key: Path | None = Field(None, description="Its private key.")
    embeddings_url: str | None = Field(
        None, description="OpenAI-compatible embeddings endpoint; unset: in-process MiniLM."
    )
    embeddings_model: str = Field("all-MiniLM-L6-v2", description="The embeddings endpoint's model name (384-d).")
    audit_key_file: Path | None = Field(
        None, description="32-byte key: audit events keep questions and answers AES-256-GCM encrypted, not hashed."
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger JSON request bodies are refused (413).")
    max_document_bytes: int = Field(20_000_000, ge=1024, description="Larger uploaded documents are refused (413).")
    default_k: int = Field(5, ge=1, le=50, description="Chunks retrieved when the caller does not say.")
    max_context_chars: int = Field(6000, ge=500, description="Retrieved text put in front of the model.")
    max_tokens: int = Field(512, ge=1, le=4096, description="Default answer length in tokens.")
    max_conversation_chars: int = Field(
        16_000, ge=500, description="A chat's text in all; longer is refused (413) before retrieval or the model."
    )
    llm_deadline_s: float = Field(300.0, gt=0, description="Longest one answer may take, a stream included.")
    min_relevance: float = Field(
        0.30,
        ge=-1.0,
        le=1.0,
        description="Relevance (cosine, raised by exact terms) below which a chunk is never given to the model.",
    )
    ocr_languages: str | None = Field(
        None,
        pattern=OCR_LANGUAGES.pattern,
        description="Read scanned PDF pages with OCR (tesseract-ocr), in these languages, e.g. eng or deu+eng; "
        "unset: no OCR, and a scan is refused as having no text.",
    )
    hybrid_retrieval: bool = Field(
        True, description="Fuse PostgreSQL full-text search with the vector search (exact codes, drug names)."
    )

    @field_validator("oidc_jwks_url")
    @classmethod
    def _jwks_scheme(cls, value: str) -> str:
        from stack.jwks import SCHEMES

        if value.split(":", 1)[0] not in SCHEMES:
            raise ValueError("must start with file:, ssm: or https: (hosts have no internet egress)")
        return value

    @field_validator("database_dsn", "oidc_issuer", "oidc_audience", "oidc_jwks_url")
    @classmethod
    def _no_placeholders(cls, value: str) -> str:
        return not_placeholder(value)


class SyncSettings(BaseSettings):
    """The document bucket's sync service (phistack-gateway sync), from PHISTACK_SYNC_* variables."""

    model_config = SettingsConfigDict(env_prefix="PHISTACK_SYNC_", frozen=True)

    database_dsn: str = Field(description="PostgreSQL DSN of the app role (phistack_app), as the gateway's.")
    database_iam_auth: bool = Field(False, description="As the gateway's: RDS IAM tokens instead of a password.")
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="The document bucket.")
    queue_url: str | None = Field(None, description="The bucket's event queue (needed by `sync run`).")
    dead_letter_queue_url: str | None = Field(None, description="Where unreadable documents' events go.")
    groups: tuple[str, ...] = Field(
        ("kb-sync",),
        min_length=1,
        description="The groups the service writes as: a collection synced from the "
        "bucket lists one of them in its write_groups (JSON list).",
    )
    region: str | None = Field(None, description="AWS region (default: the instance's).")
    endpoint_url: str | None = Field(
        None,
        description="An emulated AWS endpoint (tests, the sandbox); unset on AWS, where the VPC endpoints "
        "answer at the services' usual names.",
    )
    embeddings_url: str | None = Field(None, description="As the gateway's; unset: in-process MiniLM.")
    embeddings_model: str = Field("all-MiniLM-L6-v2", description="The embeddings endpoint's model name.")
    ca_file: Path | None = Field(None, description="CA that signed the embeddings engine's certificate.")
    max_document_bytes: int = Field(20_000_000, ge=1024, description="Larger objects are refused (dead-lettered).")
    wait_s: int = Field(20, ge=0, le=20, description="SQS long-poll wait per receive.")
    concurrency: int = Field(2, ge=1, le=10, description="Documents processed at once (I/O overlaps embedding).")
    ocr_languages: str | None = Field(
        None, pattern=OCR_LANGUAGES.pattern, description="As the gateway's: OCR for scanned PDFs."
    )

    @field_validator("database_dsn", "bucket")
    @classmethod
    def _real(cls, value: str) -> str:
        return not_placeholder(value)
