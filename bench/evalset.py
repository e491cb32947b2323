"""A labelled retrieval evaluation set from public-domain text: the ICD-10-CM tabular list (CDC/CMS, a work of the
US government), as shipped in the simple-icd-10-cm wheel (April 2026 release; pinned in the dev extra).

Passages: one per subcategory (E11.6, T39.1, Z79.0...) of the chapters a clinic's knowledge base is most like,
each its codes with their descriptions and notes, at most one chunk long. Questions, each labelled with the
passages that answer it:

- code:    "What is ICD-10-CM code E11.641?" (the exact code only)
- drug:    "Which code applies to a patient taking tamoxifen?" (a drug named in few passages)
- meaning: a subcategory's description, asked in words ("Which code covers type 2 diabetes mellitus with ...?")

Deterministic: the same wheel and seed give the same set.

    .venv/bin/python bench/evalset.py    # prints the set's size and a few questions
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources

CHAPTER_PREFIXES = ("D5", "D6", "E", "F1", "I", "J4", "T36", "T37", "T38", "T39", "T4", "T50", "Z79", "Z92")
DRUGS = (
    "heparin",
    "tamoxifen",
    "raloxifene",
    "anastrozole",
    "aspirin",
    "methadone",
    "ibuprofen",
    "carbamazepine",
    "streptomycin",
    "glucagon",
    "caffeine",
    "fentanyl",
    "LSD",
    "ergot",
    "chloramphenicol",
    "cyclosporine",
    "estrogen",
    "androgen",
    "insulin",
    "nicotine",
    "heroin",
    "cannabis",
    "cocaine",
    "amphetamine",
    "hallucinogen",
    "antiplatelet",
    "anticoagulant",
    "antidepressant",
    "contraceptive",
)  # fmt: skip  (drugs and drug classes the passages name; each in at most 15 of them)
MAX_PASSAGE_CHARS = 950  # one chunk (stack.chunking's 1000)
NOTE_TAGS = ("includes", "inclusionTerm", "excludes1", "excludes2", "useAdditionalCode", "codeFirst", "codeAlso")


@dataclass(frozen=True)
class Passage:
    id: str  # the subcategory's code
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    kind: str  # code | drug | meaning
    text: str
    relevant: frozenset[str]  # passage ids that answer it


def _tabular() -> ET.Element:
    data = resources.files("simple_icd_10_cm").joinpath("data")
    name = next(p.name for p in data.iterdir() if p.name.startswith("icd10c-tabular") and p.name.endswith(".xml"))
    return ET.fromstring(data.joinpath(name).read_bytes())


def _notes(diag: ET.Element) -> list[str]:
    return [n.text.strip() for tag in NOTE_TAGS for holder in diag.findall(tag) for n in holder.findall("note")
            if n.text]  # fmt: skip


def _lines(diag: ET.Element) -> list[str]:
    """The diag's code and description, its notes, then its descendants', in order."""
    out = [f"{diag.findtext('name')} {diag.findtext('desc')}"] + [f"  {n}" for n in _notes(diag)]
    for child in diag.findall("diag"):
        out += _lines(child)
    return out


def passages() -> list[Passage]:
    found = []
    for diag in _tabular().iter("diag"):
        code = diag.findtext("name") or ""
        if len(code) != 5 or not code.startswith(CHAPTER_PREFIXES):  # subcategories: E11.6, T39.1, Z79.0
            continue
        text = ""
        for line in _lines(diag):
            if len(text) + len(line) + 1 > MAX_PASSAGE_CHARS:
                break
            text += line + "\n"
        found.append(Passage(code, f"{code} {diag.findtext('desc')}", text.strip()))
    return found


CODE = re.compile(r"^([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?) ", re.M)


def questions(corpus: list[Passage], seed: int = 16, per_kind: int = 100) -> list[Question]:
    rng = random.Random(seed)
    where: dict[str, set[str]] = {}
    for p in corpus:
        for code in CODE.findall(p.text):
            where.setdefault(code, set()).add(p.id)
    leaves = sorted(c for c, ids in where.items() if len(c) >= 6 and len(ids) == 1 and not c.endswith("X"))
    by_letter: dict[str, list[str]] = {}
    for code in leaves:
        by_letter.setdefault(code[0], []).append(code)
    for codes in by_letter.values():
        rng.shuffle(codes)
    picked: list[str] = []
    while len(picked) < per_kind and any(by_letter.values()):  # round robin over the chapters: not all T codes
        for codes in by_letter.values():
            if codes and len(picked) < per_kind:
                picked.append(codes.pop())
    asked = [Question("code", f"What is ICD-10-CM code {c}?", frozenset(where[c])) for c in picked]
    for drug in DRUGS:
        holding = frozenset(p.id for p in corpus if re.search(rf"\b{drug}\b", p.text, re.I))
        if 0 < len(holding) <= 15:
            asked.append(Question("drug", f"Which code applies to a patient taking {drug}?", holding))
    for p in rng.sample(corpus, per_kind):
        desc = p.title.split(" ", 1)[1].lower()
        asked.append(Question("meaning", f"Which code covers {desc}?", frozenset({p.id})))
    return asked


def main() -> int:
    corpus = passages()
    asked = questions(corpus)
    kinds = {k: sum(1 for q in asked if q.kind == k) for k in ("code", "drug", "meaning")}
    print(f"{len(corpus)} passages ({sum(len(p.text) for p in corpus) / len(corpus):.0f} characters on average); "
          f"questions: {kinds}")  # fmt: skip
    for q in asked[:: max(1, len(asked) // 6)]:
        print(f"  [{q.kind}] {q.text} -> {sorted(q.relevant)[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
