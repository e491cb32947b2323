"""Split text into overlapping chunks on word boundaries, keeping each chunk's character offsets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    start: int
    end: int
    text: str


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
