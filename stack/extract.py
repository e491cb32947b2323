"""Text out of an uploaded document: plain text, Markdown, HTML or PDF. A document that cannot be read is refused
whole (MalformedDocument, a 422), before anything is stored. HTML and PDF, whose parsers can be driven into
exceptions, quadratic time or decompression bombs by a crafted file, are parsed in a separate process with hard
limits on CPU time, memory, wall time and output size (stack.parse_worker); plain text is only decoded."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from stack.errors import GatewayError

MEDIA_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf")
WORKER_TYPES = ("text/html", "application/pdf")  # parsed in a limited process (stack.parse_worker)
_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table", "ul", "ol"}
_SKIP = {"script", "style", "head", "template", "noscript"}


class MalformedDocument(GatewayError):
    """The body is not a readable document of its declared type."""


class UnsupportedMediaType(GatewayError):
    """A media type the gateway does not index (415)."""


@dataclass(frozen=True)
class Extracted:
    text: str
    page_starts: tuple[int, ...] = ()  # PDF: the offset in text where each page begins
    sections: tuple[tuple[int, str], ...] = ()  # DOCX, Markdown: (offset, heading) where each section begins

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding a character offset (None for documents without pages)."""
        if not self.page_starts:
            return None
        return sum(1 for start in self.page_starts if start <= offset) or 1

    def pages_of(self, start: int, end: int) -> tuple[int | None, int | None]:
        """The first and last page of the characters [start, end): a chunk that spans pages names them all."""
        return self.page_of(start), self.page_of(max(start, end - 1))


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _tidy(text: str) -> str:
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _decode(body: bytes, media_type: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedDocument(f"The {media_type} body is not UTF-8 (byte {exc.start}).") from None


def _pdf(body: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            raise MalformedDocument("The PDF is encrypted; upload a decrypted copy.")
        pages = [_tidy(page.extract_text() or "") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise MalformedDocument(f"The body is not a readable PDF ({exc.__class__.__name__}).") from None
    starts, text = [], ""
    for page in pages:
        if text:
            text += "\n\n"
        starts.append(len(text))
        text += page
    if not text.strip():
        raise MalformedDocument("The PDF has no extractable text (a scan? run OCR first).")
    return Extracted(text, tuple(starts))


def extract(body: bytes, media_type: str) -> Extracted:
    """The document's text, by its media type (parameters such as charset are ignored: text must be UTF-8).
    NUL characters are dropped: PostgreSQL text cannot hold them, and they carry no meaning in a document."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind in WORKER_TYPES:
        from stack.parse_worker import parse_isolated

        extracted = parse_isolated(body, kind)
    else:
        extracted = parse(body, media_type)
    if "\x00" not in extracted.text:
        return extracted
    text = extracted.text

    def shifted(offset: int) -> int:
        return offset - text.count("\x00", 0, offset)

    cleaned = text.replace("\x00", "")
    if not cleaned.strip():
        raise MalformedDocument("The document has no text to index.")
    return Extracted(
        cleaned,
        tuple(shifted(start) for start in extracted.page_starts),
        tuple((shifted(offset), title.replace("\x00", "")) for offset, title in extracted.sections),
    )


_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def markdown_sections(text: str) -> tuple[tuple[int, str], ...]:
    """Where each Markdown ATX heading (# Title) begins, with its title."""
    return tuple((m.start(), m.group(1)[:300]) for m in _MD_HEADING.finditer(text))


def parse(body: bytes, media_type: str) -> Extracted:
    """In this process, without limits: plain text here, HTML and PDF in stack.parse_worker's child process."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Media type {kind or '(none)'!r} is not indexed; send one of {', '.join(MEDIA_TYPES)}."
        )
    if kind == "application/pdf":
        return _pdf(body)
    text = _decode(body, kind)
    if kind == "text/html":
        parser = _HTMLText()
        parser.feed(text)
        parser.close()
        text = _tidy("".join(parser.parts))
    if not text.strip():
        raise MalformedDocument("The document has no text to index.")
    return Extracted(text, sections=markdown_sections(text) if kind == "text/markdown" else ())
