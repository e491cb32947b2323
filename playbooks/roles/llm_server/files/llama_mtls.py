"""llama.cpp's OpenAI-compatible server (llama-cpp-python) behind TLS that requires a client certificate signed
by the client's CA: the same guarantee as vLLM's --ssl-cert-reqs 2. Installed by the llm_server role.

usage: llama_mtls.py MODEL ALIAS HOST PORT CONTEXT CERT KEY CA"""

from __future__ import annotations

import os
import ssl
import sys

import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings


def main(argv: list[str]) -> None:
    model, alias, host, port, context, cert, key, ca = argv
    app = create_app(
        server_settings=ServerSettings(host=host, port=int(port)),
        # verbose off: llama.cpp would otherwise print prompt timings and tokens to the journal
        model_settings=[
            ModelSettings(model=model, model_alias=alias, n_ctx=int(context), n_threads=os.cpu_count(), verbose=False)
        ],
    )
    uvicorn.run(
        app,
        host=host,
        port=int(port),
        ssl_certfile=cert,
        ssl_keyfile=key,
        ssl_ca_certs=ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        ssl_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20",  # forward secrecy and AEAD only; rules out TLS 1.0 and 1.1
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
