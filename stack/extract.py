"""Text out of an uploaded document: plain text, Markdown, HTML, PDF (scans with OCR, as a setting) or DOCX. A
document that cannot be read is refused whole (MalformedDocument, a 422), before anything is stored. HTML, PDF and
DOCX, whose parsers can be driven into
exceptions, quadratic time or decompression bombs by a crafted file, are parsed in a separate process with hard
limits on CPU time, memory, wall time and output size (stack.parse_worker); plain text is only decoded."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from stack.errors import GatewayError

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf", DOCX)
WORKER_TYPES = ("text/html", "application/pdf", DOCX)  # parsed in a limited process (stack.parse_worker)
OCR_LANGUAGES = re.compile(r"^[a-z_]{3,8}(\+[a-z_]{3,8}){0,4}$")  # tesseract's codes: eng, deu+eng
OCR_PAGE_SECONDS = 60  # one page's OCR; the worker's own limits bound the whole document
MAX_IMAGES_PER_PAGE = 8
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


def _pdf(body: bytes, ocr: str | None = None) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            raise MalformedDocument("The PDF is encrypted; upload a decrypted copy.")
        pages = []
        for page in reader.pages:
            text = _tidy(page.extract_text() or "")
            if not text and ocr:  # a scanned page: its text is only in its images
                text = _tidy(_ocr_page(page, ocr))
            pages.append(text)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise MalformedDocument(f"The body is not a readable PDF ({exc.__class__.__name__}).") from None
    starts, text = [], ""
    for page_text in pages:
        if text:
            text += "\n\n"
        starts.append(len(text))
        text += page_text
    if not text.strip():
        hint = "even with OCR" if ocr else "a scan? set PHISTACK_GATEWAY_OCR_LANGUAGES to read scans with OCR"
        raise MalformedDocument(f"The PDF has no extractable text ({hint}).")
    return Extracted(text, tuple(starts))


def _ocr_page(page: object, languages: str) -> str:
    """The text tesseract reads in a page's images (a scanner stores each page as one image)."""
    import subprocess

    texts = []
    for number, image in enumerate(getattr(page, "images", ())):
        if number >= MAX_IMAGES_PER_PAGE:
            break
        png = io.BytesIO()
        image.image.save(png, "PNG")
        try:
            done = subprocess.run(
                ["tesseract", "stdin", "stdout", "-l", languages],
                input=png.getvalue(),
                capture_output=True,
                timeout=OCR_PAGE_SECONDS,
                check=False,
            )
        except FileNotFoundError:
            raise MalformedDocument("OCR is on, but tesseract is not installed (Debian: tesseract-ocr).") from None
        except subprocess.TimeoutExpired:
            raise MalformedDocument("OCR of a page took longer than the gateway allows.") from None
        if done.returncode != 0:
            raise MalformedDocument(f"tesseract could not read a page's image (exit {done.returncode}).")
        texts.append(done.stdout.decode("utf-8", "replace"))
    return "\n".join(texts)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MAX_DOCX_XML_BYTES = 50_000_000  # word/document.xml, uncompressed: a zip bomb stops here


def _docx(body: bytes) -> Extracted:
    """Paragraphs and table cells of a Word document, in order; headings (Heading 1-9, Title, or any paragraph
    with an outline level) start sections, so chunks never cross one."""
    import zipfile
    from xml.etree import ElementTree

    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > MAX_DOCX_XML_BYTES:
                raise MalformedDocument("The DOCX's text is larger than any document the gateway indexes.")
            with archive.open(info) as handle:
                xml = handle.read(MAX_DOCX_XML_BYTES + 1)
        root = ElementTree.fromstring(xml)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, EOFError, OSError) as exc:
        raise MalformedDocument(f"The body is not a readable DOCX ({exc.__class__.__name__}).") from None
    body_element = root.find(f"{_W}body")
    if body_element is None:
        raise MalformedDocument("The DOCX has no document body.")
    text, sections = "", []
    for paragraph in body_element.iter(f"{_W}p"):
        line = _docx_text(paragraph)
        if not line.strip():
            continue
        if text:
            text += "\n\n"
        if _is_heading(paragraph):
            sections.append((len(text), line.strip()[:300]))
        text += line
    if not text.strip():
        raise MalformedDocument("The document has no text to index.")
    return Extracted(text, sections=tuple(sections))


def _docx_text(paragraph: object) -> str:
    parts = []
    for node in paragraph.iter():  # type: ignore[attr-defined]
        if node.tag == f"{_W}t" and node.text:
            parts.append(node.text)
        elif node.tag == f"{_W}tab":
            parts.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return re.sub(r"[ \t]+", " ", "".join(parts)).strip()


def _is_heading(paragraph: object) -> bool:
    properties = paragraph.find(f"{_W}pPr")  # type: ignore[attr-defined]
    if properties is None:
        return False
    style = properties.find(f"{_W}pStyle")
    name = (style.get(f"{_W}val") or "") if style is not None else ""
    return bool(re.match(r"^(heading|title)\s?\d?$", name, re.I)) or properties.find(f"{_W}outlineLvl") is not None


def extract(body: bytes, media_type: str, ocr: str | None = None) -> Extracted:
    """The document's text, by its media type (parameters such as charset are ignored: text must be UTF-8).
    With ocr (tesseract's language codes, e.g. "eng"), scanned PDF pages are read with OCR.
    NUL characters are dropped: PostgreSQL text cannot hold them, and they carry no meaning in a document."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind in WORKER_TYPES:
        from stack.parse_worker import parse_isolated

        extracted = parse_isolated(body, kind, ocr)
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


def parse(body: bytes, media_type: str, ocr: str | None = None) -> Extracted:
    """In this process, without limits: plain text here; HTML, PDF and DOCX in stack.parse_worker's child."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Media type {kind or '(none)'!r} is not indexed; send one of {', '.join(MEDIA_TYPES)}."
        )
    if kind == "application/pdf":
        return _pdf(body, ocr)
    if kind == DOCX:
        return _docx(body)
    text = _decode(body, kind)
    if kind == "text/html":
        parser = _HTMLText()
        parser.feed(text)
        parser.close()
        text = _tidy("".join(parser.parts))
    if not text.strip():
        raise MalformedDocument("The document has no text to index.")
    return Extracted(text, sections=markdown_sections(text) if kind == "text/markdown" else ())
