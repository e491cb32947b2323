"""Run on the converged test host (Python standard library only): the gateway answers over its TLS port, with
citations, for a service API key; a user logs in with an OIDC token checked against the IdP keys published as a
file (no egress), and a forged one is refused; anonymous callers get 401; the engine refuses a client without a
certificate. Prints a JSON summary; exits non-zero naming the first failed check.

usage: gateway_check.py GATEWAY_URL ENGINE_HOST ENGINE_PORT CA_FILE API_KEY USER_TOKEN"""

import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request

DOCUMENT = (
    "Clinic policy: influenza vaccinations are offered to every patient over 65 each October.\n"
    "Patients with an egg allergy receive the cell-based vaccine instead.\n"
)


def call(context, url, method="GET", body=None, key=None, content_type="application/json"):
    headers = {"Content-Type": content_type}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=120) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def main(gateway, engine_host, engine_port, ca_file, key, token):
    context = ssl.create_default_context(cafile=ca_file)  # the client's CA only, hostname checked
    deadline = time.monotonic() + 240
    status = None
    while time.monotonic() < deadline:
        try:
            status, _ = call(context, f"{gateway}/readyz")
            if status == 200:
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    summary = {"ready": status == 200}
    if status != 200:
        raise SystemExit(f"gateway not ready over TLS: last status {status}")
    summary["anonymous_status"] = call(context, f"{gateway}/v1/collections")[0]
    if summary["anonymous_status"] != 401:
        raise SystemExit(f"anonymous call answered {summary['anonymous_status']}, not 401")
    collection = {"id": "molecule-kb", "title": "Molecule", "read_groups": ["kb-admins"], "write_groups": ["kb-admins"]}
    created, _ = call(context, f"{gateway}/v1/collections", "POST", collection, key)
    if created not in (201, 409):
        raise SystemExit(f"creating the collection answered {created}")
    url = f"{gateway}/v1/collections/molecule-kb/documents?title=flu-policy"
    uploaded, ingest = call(context, url, "POST", DOCUMENT.encode(), key, "text/plain")
    if uploaded not in (200, 201):  # 200: the same document was already there
        raise SystemExit(f"uploading answered {uploaded}")
    question = {
        "model": "smollm2",
        "max_tokens": 48,
        "messages": [{"role": "user", "content": "Who is offered influenza vaccinations?"}],
    }
    asked, answer = call(context, f"{gateway}/v1/chat/completions", "POST", question, key)
    if asked != 200:
        raise SystemExit(f"chat answered {asked}")
    citations = answer.get("citations") or []
    summary.update(
        chunks=ingest["chunks"],
        citations=len(citations),
        cited_document=citations[0]["document_id"] if citations else None,
        sources_listed="Sources:" in answer["choices"][0]["message"]["content"],
    )
    if not citations or citations[0]["document_id"] != ingest["document_id"] or not summary["sources_listed"]:
        raise SystemExit(f"the answer does not cite the uploaded document: {summary}")
    query = {"query": "influenza vaccinations", "collections": ["molecule-kb"]}
    summary["user_token_status"], found = call(context, f"{gateway}/v1/retrieve", "POST", query, token)
    if summary["user_token_status"] != 200 or not (found or {}).get("citations"):
        raise SystemExit(f"the IdP user's token was not accepted with citations: {summary}")
    header, claims, signature = token.split(".")
    forged = ".".join((header, claims, signature[::-1]))
    summary["forged_token_status"] = call(context, f"{gateway}/v1/retrieve", "POST", query, forged)[0]
    if summary["forged_token_status"] != 401:
        raise SystemExit(f"a forged token was not refused: {summary}")
    engine = ssl.create_default_context(cafile=ca_file)
    try:
        with socket.create_connection((engine_host, int(engine_port)), timeout=10) as raw:
            with engine.wrap_socket(raw, server_hostname=engine_host) as tls:
                tls.sendall(b"GET /v1/models HTTP/1.1\r\nHost: engine\r\n\r\n")
                reply = tls.recv(100)  # TLS 1.3: the server checks the certificate after the handshake
        summary["engine_without_client_cert"] = (
            f"answered {reply[:12]!r}" if reply.startswith(b"HTTP/") else "refused (closed without an answer)"
        )
    except (ssl.SSLError, ConnectionError) as exc:
        summary["engine_without_client_cert"] = f"refused ({exc.__class__.__name__})"
    if not summary["engine_without_client_cert"].startswith("refused"):
        raise SystemExit(f"the engine served a client without a certificate: {summary}")
    print(json.dumps(summary))  # noqa: T201  (the playbook reads it)


if __name__ == "__main__":
    main(*sys.argv[1:])
