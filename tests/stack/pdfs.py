"""A minimal, valid PDF with one text line per page (Helvetica), written byte by byte with a correct xref
table, so tests need no PDF writer."""

from __future__ import annotations


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def tiny_pdf(pages: list[str]) -> bytes:
    return pdf_of_streams([(f"BT /F1 11 Tf 72 720 Td ({_escape(text)}) Tj ET".encode(), "") for text in pages])


def pdf_of_streams(streams: list[tuple[bytes, str]]) -> bytes:
    """One page per (content stream bytes, extra stream dictionary entries such as '/Filter /FlateDecode')."""
    objects: list[bytes] = []
    n = len(streams)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    font = 3 + 2 * n
    for i, (stream, extra) in enumerate(streams):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d %s >>\nstream\n" % (len(stream), extra.encode()) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def scanned_pdf(pages: list[str]) -> bytes:
    """A scan: each page only an image of its text (no text layer), as a document scanner writes it."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=36)
    images = []
    for text in pages:
        image = Image.new("L", (1700, 400), 255)
        ImageDraw.Draw(image).text((60, 150), text, fill=0, font=font)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=200.0, save_all=True, append_images=images[1:])
    return out.getvalue()
