"""Settings to a running gateway's parts: the database, the IdP, the engines and the audit sealer."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from typing import Any

from stack.auth import Authenticator, Principal
from stack.db import pooled
from stack.dbauth import IamTokens
from stack.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder
from stack.extract import extract
from stack.gateway import Gateway, Limits
from stack.jwks import JwksKeys
from stack.llm import OpenAIChatClient, tls_context
from stack.sealing import AesGcmSealer, HashSealer, Sealer
from stack.settings import GatewaySettings, SyncSettings
from stack.sync import QueueWorker, Syncer


def _embedder(url: str | None, model: str, verify: ssl.SSLContext | bool) -> Embedder:
    """An OpenAI-compatible embeddings endpoint when one is set, else MiniLM in-process."""
    return OpenAIEmbedder(url, model, verify=verify) if url else MiniLMEmbedder()


def _credentials(dsn: str, iam_auth: bool, region: str | None) -> Callable[[], dict[str, Any]] | None:
    """Aurora: each new connection's password is an IAM token (renewed before expiry); else the DSN's passfile."""
    return IamTokens(dsn, region).connect_kwargs if iam_auth else None


def build_gateway(settings: GatewaySettings, signing_key: Callable[[str], Any] | None = None) -> Gateway:
    """signing_key maps a token to its verification key; by default the IdP's JWKS, read from its source now (a
    source that cannot be read raises JwksUnavailable) and re-read on a timer."""
    # Files first: a bad key file stops here, before any connection or thread exists.
    sealer: Sealer = AesGcmSealer.from_file(settings.audit_key_file) if settings.audit_key_file else HashSealer()
    if signing_key is None:
        signing_key = JwksKeys(settings.oidc_jwks_url, settings.oidc_jwks_refresh_s).start().signing_key

    _, connect = pooled(
        settings.database_dsn,
        settings.db_pool_size,
        connect_kwargs=_credentials(settings.database_dsn, settings.database_iam_auth, settings.database_region),
    )
    authenticate: Callable[[str | None], Principal] = Authenticator(
        settings.oidc_issuer, settings.oidc_audience, signing_key, settings.groups_claim, connect
    )
    verify = tls_context(
        str(settings.llm_ca_file) if settings.llm_ca_file else None,
        str(settings.llm_client_cert) if settings.llm_client_cert else None,
        str(settings.llm_client_key) if settings.llm_client_key else None,
    )
    engine = (
        OpenAIChatClient(
            settings.llm_url,
            settings.llm_model,
            timeout=settings.llm_timeout_s,
            verify=verify,
            deadline=settings.llm_deadline_s,
        )
        if settings.llm_url
        else None
    )
    embedder = _embedder(settings.embeddings_url, settings.embeddings_model, verify)
    limits = Limits(
        settings.max_body_bytes,
        settings.max_document_bytes,
        settings.default_k,
        settings.max_context_chars,
        settings.max_tokens,
        settings.max_conversation_chars,
        min_relevance=settings.min_relevance,
        hybrid=settings.hybrid_retrieval,
        ocr=settings.ocr_languages,
    )
    return Gateway(authenticate, connect, embedder, engine, sealer, settings.admin_groups, limits)


def build_sync(settings: SyncSettings) -> tuple[Syncer, QueueWorker | None]:
    """The sync service's parts: S3 and SQS clients (through the VPC endpoints, or an emulator's URL), the
    database, the embedder; a queue worker when the settings name the queues."""
    import boto3

    session = boto3.session.Session(region_name=settings.region)
    s3 = session.client("s3", endpoint_url=settings.endpoint_url)
    verify = tls_context(str(settings.ca_file) if settings.ca_file else None, None, None)
    embedder = _embedder(settings.embeddings_url, settings.embeddings_model, verify)
    _, connect = pooled(
        settings.database_dsn,
        settings.concurrency + 1,
        connect_kwargs=_credentials(settings.database_dsn, settings.database_iam_auth, settings.region),
    )
    read = functools.partial(extract, ocr=settings.ocr_languages)
    syncer = Syncer(s3, connect, embedder, settings.bucket, settings.groups, settings.max_document_bytes, read)
    if not (settings.queue_url and settings.dead_letter_queue_url):
        return syncer, None
    sqs = session.client("sqs", endpoint_url=settings.endpoint_url)
    return syncer, QueueWorker(
        syncer, sqs, settings.queue_url, settings.dead_letter_queue_url, settings.wait_s, settings.concurrency
    )
