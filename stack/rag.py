"""Retrieval-augmented prompts and their citations: numbered sources in the system prompt, [n] markers in the
answer, and a sources list appended so that any OpenAI client shows where the answer came from."""

from __future__ import annotations

import re
from collections.abc import Sequence

from stack.llm import Message
from stack.store import Hit

INSTRUCTIONS = (
    "You answer questions for clinic staff using only the numbered sources below. Cite the sources you use by "
    "their number in square brackets, like [1]. If the sources do not contain the answer, say that you do not "
    "know. Never invent patient details."
)
NO_SOURCES = "None of the documents you may read match this question, so I cannot answer it from them."
_MARKER = re.compile(r"\[(\d{1,2})\]")


def select_sources(hits: Sequence[Hit], max_chars: int, min_relevance: float = -1.0) -> list[Hit]:
    """The best hits that fit the context budget (the first always does, truncated if it must be), leaving out any
    below the relevance floor: an unrelated chunk is noise the model would answer from, not a source. Relevance is
    the cosine similarity, raised for a chunk holding the question's exact distinctive terms (a code, a drug name):
    such a chunk is evidence even when its meaning is far from the question's wording."""
    chosen: list[Hit] = []
    used = 0
    for hit in (h for h in hits if h.relevance >= min_relevance):
        if chosen and used + len(hit.text) > max_chars:
            break
        chosen.append(hit)
        used += len(hit.text)
    return chosen


def build_messages(sources: Sequence[Hit], conversation: Sequence[Message], max_chars: int) -> list[Message]:
    """One system message (our instructions, the sources, then any system text the caller sent), then the
    conversation. Access was decided in SQL before this point: nothing in a prompt can widen it."""
    blocks = [f"[{n}] {hit.document_title}\n{hit.text[:max_chars]}" for n, hit in enumerate(sources, 1)]
    system = INSTRUCTIONS + "\n\nSources:\n\n" + "\n\n".join(blocks)
    extra = [m.content for m in conversation if m.role == "system"]
    if extra:
        system += "\n\n" + "\n\n".join(extra)
    return [Message("system", system), *(m for m in conversation if m.role != "system")]


def cited_numbers(answer: str, count: int) -> set[int]:
    """The source numbers an answer cites with [n] markers (numbers outside 1..count are ignored)."""
    return {int(n) for n in _MARKER.findall(answer) if 1 <= int(n) <= count}


def locator(hit: Hit) -> str:
    if hit.page is not None and hit.page_end not in (None, hit.page):
        where = f"pages {hit.page}-{hit.page_end}"
    elif hit.page is not None:
        where = f"page {hit.page}"
    else:
        where = f"characters {hit.start}-{hit.end}"
    section = f', "{hit.section}"' if hit.section else ""
    return f"{hit.document_title} ({hit.collection}, chunk {hit.ordinal}{section}, {where})"


def sources_footer(sources: Sequence[Hit]) -> str:
    if not sources:
        return ""
    return "\n\nSources:\n" + "\n".join(f"[{n}] {locator(hit)}" for n, hit in enumerate(sources, 1))
