"""The document parsers under hostile input (issue 14, item 4): every document is either text or a one-line 422
(MalformedDocument), never another exception, and its parse is bounded in CPU time, memory, wall time and output
size by the child process it runs in (stack.parse_worker). Property-based over random and mutated documents, and
crafted: a decompression bomb, an unknown filter, malformed objects, pathological HTML, an oversize text."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.extract import DOCX, Extracted, MalformedDocument, extract
from stack.parse_worker import MAX_TEXT_CHARS, UNREADABLE
from tests.stack.pdfs import pdf_of_streams, tiny_pdf

VALID = tiny_pdf(["Warfarin: keep the INR between 2 and 3.", "Page two."])
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def outcome(body: bytes, media_type: str) -> Extracted | str:
    try:
        return extract(body, media_type)
    except MalformedDocument as exc:  # anything else fails the test
        assert "\n" not in str(exc)
        return str(exc)


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from(["application/pdf", "text/html"]))
def test_random_bytes_are_text_or_a_422(body: bytes, media_type: str) -> None:
    outcome(body, media_type)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_a_mutated_pdf_is_text_or_a_422(flips: list[tuple[int, int]]) -> None:
    body = bytearray(VALID)
    for at, value in flips:
        body[at] = value
    outcome(bytes(body), "application/pdf")


@FUZZ
@given(st.text(alphabet="<>/!-[]&#;=\"' abcdiv", max_size=3000))
def test_tag_soup_is_text_or_a_422(html: str) -> None:
    outcome(html.encode(), "text/html")


def test_a_valid_pdf_still_reads_with_its_pages() -> None:
    result = outcome(VALID, "application/pdf")
    assert isinstance(result, Extracted) and "INR" in result.text and result.page_starts[0] == 0


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    + b"".join(b'<!ENTITY %c "%s">' % (c, (b"&%c;" % (c - 1)) * 10) for c in range(ord("c"), ord("k")))
    + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
    b"<w:t>&j;</w:t></w:r></w:p></w:body></w:document>"
)


@pytest.mark.parametrize(
    ("name", "body", "media_type"),
    [
        ("decompression bomb", pdf_of_streams([(zlib.compress(b" " * 400_000_000, 9), "/Filter /FlateDecode")]),
         "application/pdf"),
        ("unknown filter", pdf_of_streams([(b"garbage", "/Filter /NoSuchDecode")]), "application/pdf"),
        ("malformed objects", VALID.replace(b"/Type /Pages", b"/Type /Pages /Kids 7 0 R /Count -1"), "application/pdf"),
        ("truncated", VALID[: len(VALID) // 2], "application/pdf"),
        ("nested tags", b"<div>" * 200_000, "text/html"),
        ("unclosed declarations", b"<!" * 300_000, "text/html"),
        ("oversize text", b"<p>" + b"a" * (MAX_TEXT_CHARS + 10) + b"</p>", "text/html"),
        ("docx zip bomb", zipped("word/document.xml", b" " * 400_000_000), DOCX),
        ("docx entity expansion", zipped("word/document.xml", LAUGHS), DOCX),
        ("docx without a document", zipped("word/other.xml", b"<x/>"), DOCX),
        ("docx not a zip", b"PK\x03\x04 not really", DOCX),
    ],
)  # fmt: skip
def test_crafted_documents_are_bounded_and_answered_in_one_line(name: str, body: bytes, media_type: str) -> None:
    result = outcome(body, media_type)
    if name in ("decompression bomb", "oversize text", "unknown filter", "truncated") or name.startswith("docx"):
        assert isinstance(result, str), name  # refused
    if name == "oversize text":
        assert str(MAX_TEXT_CHARS) in str(result)
    if isinstance(result, str) and name == "decompression bomb":
        assert result == UNREADABLE or "no extractable text" in result or "not a readable" in result
