"""DOCX with its headings, scanned PDFs through OCR (tesseract, a setting), over HTTP into the real store (issue 16)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from stack.app import create_app
from stack.embeddings import MiniLMEmbedder
from stack.extract import DOCX, extract
from stack.gateway import Limits
from tests.stack.docx import docx, paragraph, table
from tests.stack.pdfs import scanned_pdf
from tests.stack.test_app import bearer, make_gateway, token
from tests.stack.test_documents import upload
from tests.stack.test_store import seed

Dsn = Callable[[str | None], str]
POLICY = docx(
    paragraph("Anticoagulation handbook", "Title"),
    paragraph("Warfarin", "Heading1"),
    paragraph("Warfarin doses are adjusted to keep the INR between 2.0 and 3.0."),
    paragraph("Reversal", "Heading2"),
    paragraph("Vitamin K reverses warfarin; give 5 mg orally for an INR above 9 without bleeding."),
    table([["Drug", "Antidote"], ["Dabigatran", "Idarucizumab"]]),
)


def test_a_docx_keeps_its_headings_as_sections() -> None:
    doc = extract(POLICY, DOCX)
    assert [title for _, title in doc.sections] == ["Anticoagulation handbook", "Warfarin", "Reversal"]
    assert "Idarucizumab" in doc.text and "Dabigatran" in doc.text  # table cells are text too
    for offset, title in doc.sections:
        assert doc.text[offset:].startswith(title)


def test_a_docx_upload_is_cited_by_its_section(api: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    assert upload(api, idp_key, POLICY, DOCX, title="Anticoagulation handbook").status_code == 201
    found = api.post(
        "/v1/retrieve", json={"query": "What reverses dabigatran?", "k": 10}, headers=bearer(token(idp_key))
    ).json()["citations"]
    ours = next(c for c in found if "Idarucizumab" in c["text"])
    assert ours["section"] == "Reversal" and ours["document"] == "Anticoagulation handbook"


SCAN = ["Clozapine requires a blood count every week for six months.", "Lithium levels are checked quarterly."]


def test_a_scan_is_refused_without_ocr_and_read_with_it(
    database: Dsn, idp_key: rsa.RSAPrivateKey, embedder: MiniLMEmbedder
) -> None:
    seed(database, embedder)
    pdf = scanned_pdf(SCAN)
    plain = TestClient(create_app(make_gateway(database, idp_key, embedder)))
    refused = upload(plain, idp_key, pdf, "application/pdf", title="Scanned protocol")
    assert refused.status_code == 422 and "OCR" in refused.json()["detail"]
    limits = Limits(max_body_bytes=10_000, max_document_bytes=200_000, ocr="eng")
    reading = TestClient(create_app(make_gateway(database, idp_key, embedder, limits=limits)))
    assert upload(reading, idp_key, pdf, "application/pdf", title="Scanned protocol").status_code == 201
    found = reading.post(
        "/v1/retrieve", json={"query": "How often are clozapine blood counts?", "k": 3}, headers=bearer(token(idp_key))
    ).json()["citations"]
    top = found[0]
    assert top["document"] == "Scanned protocol" and "Clozapine" in top["text"]
    assert (top["page"], top["page_end"]) == (1, 2)  # one chunk holds both short pages: cited as pages 1-2


@pytest.mark.parametrize("languages", ["eng; rm -rf /", "../../x", "e", "ENG"])
def test_ocr_languages_are_tesseract_codes_only(gateway_env: pytest.MonkeyPatch, languages: str) -> None:
    from pydantic import ValidationError

    from stack.settings import GatewaySettings

    with pytest.raises(ValidationError, match="ocr_languages"):
        GatewaySettings(
            database_dsn="postgresql://x",
            oidc_issuer="https://idp",
            oidc_audience="gw",
            oidc_jwks_url="file:///k.json",
            ocr_languages=languages,
        )
