"""Split text into overlapping chunks on word boundaries, keeping each chunk's character offsets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    start: int
    end: int
    text: str
    section: str | None = None  # the heading the chunk sits under, for documents that have headings


def chunk_text(text: str, size: int = 1000, overlap: int = 200) -> list[Chunk]:
    """Chunks of at most ``size`` characters, each starting ``size - overlap`` after the previous one (moved
    back to a word boundary), so a sentence cut by one chunk is whole in the next."""
    if not 0 <= overlap < size:
        raise ValueError(f"overlap {overlap} must be at least 0 and below size {size}")
    chunks: list[Chunk] = []
    start, n = 0, len(text)
    while start < n:
        end = min(start + size, n)
        if end < n:  # end on whitespace where one exists in the second half of the window
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        piece = text[start:end]
        if piece.strip():
            chunks.append(Chunk(len(chunks), start, end, piece))
        if end >= n:
            break
        nxt = end - overlap
        space = text.find(" ", nxt, end)
        start = space + 1 if space != -1 and space + 1 < end else max(nxt, start + 1)
    return chunks


def chunk_sections(text: str, sections: Sequence[tuple[int, str]], size: int = 1000, overlap: int = 200) -> list[Chunk]:
    """Chunks that never cross a heading: each section (from its heading's offset to the next one's) is chunked
    on its own, and its chunks carry the heading. Text before the first heading is a section without one."""
    if not sections:
        return chunk_text(text, size, overlap)
    bounds = sorted({min(max(offset, 0), len(text)) for offset, _ in sections})
    titles = {min(max(offset, 0), len(text)): title for offset, title in sections}
    spans: list[tuple[int, int, str | None]] = [(0, bounds[0], None)] if bounds[0] > 0 else []
    spans += [(b, (bounds[i + 1] if i + 1 < len(bounds) else len(text)), titles[b]) for i, b in enumerate(bounds)]
    chunks: list[Chunk] = []
    for begin, finish, title in spans:
        for piece in chunk_text(text[begin:finish], size, overlap):
            chunks.append(Chunk(len(chunks), begin + piece.start, begin + piece.end, piece.text, title))
    return chunks
