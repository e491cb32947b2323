"""Collections and documents over HTTP: who may create, ingest, list and delete; every format; every refusal
leaves nothing half-stored and an audit event behind."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from stack.audit import verify
from stack.extract import extract
from tests.stack.pdfs import tiny_pdf
from tests.stack.test_app import ADMINS, bearer, token

Dsn = Callable[[str | None], str]
EDITOR = ["cardiology-editors", "clinicians"]


def upload(
    api: TestClient,
    key: rsa.RSAPrivateKey,
    body: bytes,
    media: str,
    title: str = "Doc",
    groups: list[str] = EDITOR,
    collection: str = "cardiology",
) -> httpx.Response:
    return api.post(
        f"/v1/collections/{collection}/documents",
        params={"title": title},
        content=body,
        headers={**bearer(token(key, groups=groups)), "Content-Type": media},
    )


def events(database: Dsn) -> list[tuple[str, str, str | None, list[int], list[int]]]:
    with psycopg.connect(database("phistack_auditor")) as conn:
        verify(conn)
        rows = conn.execute(
            "SELECT action, outcome, collection, document_ids, chunk_ids FROM audit_events ORDER BY seq"
        ).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def counts(database: Dsn) -> tuple[int, int]:
    with psycopg.connect(database(None)) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_only_administrators_create_collections(api: TestClient, idp_key: rsa.RSAPrivateKey, database: Dsn) -> None:
    body = {"id": "oncology", "title": "Oncology", "read_groups": ["clinicians"], "write_groups": ["onc-editors"]}
    refused = api.post("/v1/collections", json=body, headers=bearer(token(idp_key, groups=["clinicians"])))
    assert refused.status_code == 403
    admin = bearer(token(idp_key, sub="admin@clinic", groups=[ADMINS]))
    assert api.post("/v1/collections", json=body, headers=admin).status_code == 201
    assert api.post("/v1/collections", json=body, headers=admin).status_code == 409
    listed = api.get("/v1/collections", headers=bearer(token(idp_key, groups=["clinicians"]))).json()
    assert {c["id"] for c in listed} == {"cardiology", "radiology", "oncology"}  # never billing
    assert [e[:3] for e in events(database)] == [
        ("collection-create", "denied", "oncology"),
        ("collection-create", "ok", "oncology"),
        ("collection-create", "conflict", "oncology"),
        ("collection-list", "ok", None),
    ]


@pytest.mark.parametrize(
    ("media", "body", "needle", "absent"),
    [
        ("text/plain", b"Lithium levels are checked every three months.", "Lithium", None),
        ("text/markdown; charset=utf-8", b"# Lithium\n\n- levels every **three** months", "Lithium", None),
        (
            "text/html",
            b"<html><head><script>alert('x')</script></head><body><p>Lithium levels quarterly.</p></body></html>",
            "Lithium",
            "alert",
        ),
    ],
)
def test_text_formats_are_indexed(
    api: TestClient, idp_key: rsa.RSAPrivateKey, media: str, body: bytes, needle: str, absent: str | None
) -> None:
    response = upload(api, idp_key, body, media, title="Lithium monitoring")
    assert response.status_code == 201, response.text
    assert response.json()["chunks"] >= 1 and response.json()["created"] is True
    hits = api.post(
        "/v1/retrieve", json={"query": "How often are lithium levels checked?", "k": 1}, headers=bearer(token(idp_key))
    ).json()["citations"]
    assert hits[0]["document"] == "Lithium monitoring" and needle in hits[0]["text"]
    if absent:
        assert absent not in hits[0]["text"]  # script content is not indexed


def test_pdf_pages_are_cited(api: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    pdf = tiny_pdf(["Cover page of the anticoagulation handbook.", "Heparin infusions are titrated to the aPTT."])
    assert upload(api, idp_key, pdf, "application/pdf", title="Handbook").status_code == 201
    hit = api.post(
        "/v1/retrieve", json={"query": "heparin infusion aPTT", "k": 1}, headers=bearer(token(idp_key))
    ).json()["citations"][0]
    assert hit["document"] == "Handbook" and hit["page"] in (1, 2)
    assert extract(pdf, "application/pdf").page_of(hit["start"]) == hit["page"]


def test_reupload_is_idempotent(api: TestClient, idp_key: rsa.RSAPrivateKey, database: Dsn) -> None:
    first = upload(api, idp_key, b"Statins are reviewed yearly.", "text/plain")
    again = upload(api, idp_key, b"Statins are reviewed yearly.", "text/plain")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {**first.json(), "created": False}
    assert [e[:2] for e in events(database)] == [("ingest", "ok"), ("ingest", "unchanged")]


@pytest.mark.parametrize(
    ("media", "body", "status", "message"),
    [
        ("application/pdf", b"%PDF-1.4 this is not a pdf", 422, "PDF"),
        ("application/pdf", tiny_pdf([""]), 422, "no extractable text"),
        ("text/plain", b"\xff\xfe\x00broken", 422, "not UTF-8"),
        ("text/plain", b"   \n ", 422, "no text"),
        ("text/plain", b"\x00\x00 ", 422, "no text"),
        ("image/png", b"\x89PNG", 415, "image/png"),
        ("", b"hello", 415, "(none)"),
        ("text/plain", b"x" * 300_000, 413, "over"),
    ],
)
def test_bad_documents_are_refused_whole(
    api: TestClient, idp_key: rsa.RSAPrivateKey, database: Dsn, media: str, body: bytes, status: int, message: str
) -> None:
    before = counts(database)
    response = upload(api, idp_key, body, media)
    assert response.status_code == status and message in response.json()["detail"], response.text
    assert counts(database) == before  # nothing half-ingested


def test_readers_cannot_write_and_writers_delete_with_an_audit_event(
    api: TestClient, idp_key: rsa.RSAPrivateKey, database: Dsn
) -> None:
    assert upload(api, idp_key, b"Readers may not add this.", "text/plain", groups=["clinicians"]).status_code == 404
    created = upload(api, idp_key, b"Amiodarone needs thyroid tests every six months.", "text/plain").json()
    doc = created["document_id"]
    listed = api.get("/v1/collections/cardiology/documents", headers=bearer(token(idp_key))).json()
    assert doc in {d["id"] for d in listed}
    reader = bearer(token(idp_key, groups=["clinicians"]))
    assert api.delete(f"/v1/collections/cardiology/documents/{doc}", headers=reader).status_code == 404
    editor = bearer(token(idp_key, groups=EDITOR))
    assert api.delete(f"/v1/collections/cardiology/documents/{doc}", headers=editor).status_code == 204
    assert api.delete(f"/v1/collections/cardiology/documents/{doc}", headers=editor).status_code == 404
    hits = api.post("/v1/retrieve", json={"query": "amiodarone thyroid", "k": 5}, headers=reader).json()["citations"]
    assert doc not in {h["document_id"] for h in hits}
    trail = events(database)
    ingested = next(e for e in trail if e[0] == "ingest" and e[1] == "ok")
    deleted = next(e for e in trail if e[0] == "delete" and e[1] == "ok")
    assert deleted[2:] == ("cardiology", [doc], ingested[4]) and len(ingested[4]) == created["chunks"]
    assert [e[:2] for e in trail if e[0] == "delete"] == [("delete", "denied"), ("delete", "ok"), ("delete", "denied")]
    assert ("ingest", "denied") in [e[:2] for e in trail]


def test_a_forbidden_collection_is_not_listed(api: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    response = api.get("/v1/collections/billing/documents", headers=bearer(token(idp_key, groups=["clinicians"])))
    assert response.status_code == 404


def test_out_of_range_ids_and_nul_titles_are_422(api: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    """Found by schemathesis: a document id past bigint, and a NUL in a collection title, used to reach
    PostgreSQL (500s)."""
    admin = bearer(token(idp_key, groups=[ADMINS]))
    huge = api.delete("/v1/collections/cardiology/documents/344363176584736997516089753600", headers=admin)
    assert huge.status_code == 422
    body = {"id": "x", "title": "T\u0000S", "read_groups": ["a"], "write_groups": ["a"]}
    assert api.post("/v1/collections", json=body, headers=admin).status_code == 422


def test_nul_characters_are_dropped_not_a_server_error(api: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    """Found by the retrieval benchmark's corpus: a NUL in a document reached PostgreSQL (a 500)."""
    response = upload(api, idp_key, b"Digoxin\x00 levels are drawn six hours after the dose.", "text/plain")
    assert response.status_code == 201, response.text
    hits = api.post("/v1/retrieve", json={"query": "digoxin level timing", "k": 1}, headers=bearer(token(idp_key)))
    assert hits.json()["citations"][0]["text"].startswith("Digoxin levels")
