"""A corpus of real English text that needs no download: the docstrings of the Python packages installed in this
environment (tens of megabytes), chunked as the gateway chunks documents, embedded with the gateway's MiniLM and
cached under bench/.out/corpus-N (texts.jsonl, vectors.npy, meta.json with the texts' digest). Once built, the
cached corpus is the corpus: installing packages later does not change it (delete the folder to rebuild).

    .venv/bin/python bench/corpus.py [--chunks 100000] [--queries 500]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stack.chunking import chunk_text  # noqa: E402
from stack.embeddings import MiniLMEmbedder  # noqa: E402

OUT = ROOT / "bench" / ".out"


def docstrings() -> Iterator[str]:
    seen: set[bytes] = set()
    for path in sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py")):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                text = ast.get_docstring(node)
                if text and len(text) >= 200:
                    digest = hashlib.sha256(text.encode()).digest()
                    if digest not in seen:
                        seen.add(digest)
                        yield text


def texts(count: int) -> list[str]:
    """The first `count` chunks (800 characters, 160 overlap) of the docstrings, in a fixed order."""
    out: list[str] = []
    for doc in docstrings():
        out.extend(c.text for c in chunk_text(doc, size=800, overlap=160))
        if len(out) >= count:
            break
    if len(out) < count:
        raise SystemExit(f"corpus: only {len(out)} chunks of text available, {count} asked")
    return out[:count]


def load(chunks: int, queries: int) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """(corpus texts, their unit vectors, query texts, their unit vectors): the queries are held-out chunks that
    follow the corpus, so no query is itself in the corpus."""
    folder = OUT / f"corpus-{chunks}-{queries}"
    meta, stored = folder / "meta.json", folder / "texts.jsonl"
    if meta.exists() and stored.exists():
        all_texts = [json.loads(line) for line in stored.read_text().splitlines()]
        if hashlib.sha256("\x1e".join(all_texts).encode()).hexdigest() != json.loads(meta.read_text())["digest"]:
            raise SystemExit(f"corpus: {folder} does not match its digest; delete the folder to rebuild it")
        vectors = np.load(folder / "vectors.npy")
        return all_texts[:chunks], vectors[:chunks], all_texts[chunks:], vectors[chunks:]
    all_texts = texts(chunks + queries)
    digest = hashlib.sha256("\x1e".join(all_texts).encode()).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    embedder = MiniLMEmbedder(batch_size=16)  # measured fastest on 2 cores (length-sorted batches pad least)
    parts = []
    for i in range(0, len(all_texts), 2048):
        parts.append(np.asarray(embedder.embed(all_texts[i : i + 2048]), dtype=np.float32))
        done = min(i + 2048, len(all_texts))
        rate = done / (time.perf_counter() - started)
        print(f"corpus: embedded {done}/{len(all_texts)} ({rate:.0f}/s)", file=sys.stderr, flush=True)
    vectors = np.concatenate(parts)
    np.save(folder / "vectors.npy", vectors)
    stored.write_text("".join(json.dumps(t) + "\n" for t in all_texts))
    meta.write_text(json.dumps({"digest": digest, "seconds": round(time.perf_counter() - started, 1)}))
    return all_texts[:chunks], vectors[:chunks], all_texts[chunks:], vectors[chunks:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    corpus, vectors, queries, _ = load(args.chunks, args.queries)
    print(f"corpus: {len(corpus)} chunks, {len(queries)} queries, vectors {vectors.shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
