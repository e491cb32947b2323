"""Parse one untrusted document in a child process with hard limits, so that no crafted HTML or PDF can take the
gateway's memory, hold a CPU for minutes, or raise an exception nobody expected: whatever happens in the child
is either the document's text or a one-line MalformedDocument (422).

    python -m stack.parse_worker MEDIA_TYPE < BODY   # the child: JSON {"text", "page_starts", "sections"} or {"error"}

The child's stderr (a parser's warnings, a traceback) is discarded, never logged: it may quote the document."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

from stack.extract import Extracted, MalformedDocument, parse

CPU_SECONDS = 20  # CPU time for one document (the kernel sends SIGXCPU, then SIGKILL)
WALL_SECONDS = 40  # and wall time (a parser blocked on nothing still ends)
OCR_WALL_SECONDS = 300  # with OCR on: tesseract reads a scanned page in seconds, and a scan has many pages
MEMORY_BYTES = 1_536 * 1024 * 1024  # address space: a decompression bomb stops here
MAX_TEXT_CHARS = 5_000_000  # extracted text; more is not a document a person wrote for a clinic
UNREADABLE = "The document could not be read within the gateway's limits (time, memory or size)."


def parse_isolated(body: bytes, media_type: str, ocr: str | None = None) -> Extracted:
    """The document's text, parsed in a limited child process; MalformedDocument for anything else."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-m", "stack.parse_worker", media_type, *([f"--ocr={ocr}"] if ocr else [])],
            input=body,
            capture_output=True,
            timeout=OCR_WALL_SECONDS if ocr else WALL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MalformedDocument(UNREADABLE) from None
    try:
        result = json.loads(done.stdout)
    except ValueError:
        raise MalformedDocument(UNREADABLE) from None  # killed (CPU, memory) or crashed: no answer
    if done.returncode != 0 or "error" in result:
        raise MalformedDocument(str(result.get("error") or UNREADABLE))
    sections = tuple((int(offset), str(title)) for offset, title in result.get("sections", ()))
    return Extracted(str(result["text"]), tuple(int(n) for n in result["page_starts"]), sections)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> int:
    _limit()
    body = sys.stdin.buffer.read()
    try:
        ocr = next((a.removeprefix("--ocr=") for a in argv[1:] if a.startswith("--ocr=")), None)
        extracted = parse(body, argv[0], ocr)
        if len(extracted.text) > MAX_TEXT_CHARS:
            raise MalformedDocument(f"The document's text is over {MAX_TEXT_CHARS} characters.")
        out = {
            "text": extracted.text,
            "page_starts": list(extracted.page_starts),
            "sections": [list(section) for section in extracted.sections],
        }
    except MalformedDocument as exc:
        out = {"error": str(exc)}
    except MemoryError:
        out = {"error": UNREADABLE}
    except Exception as exc:  # noqa: BLE001 - a parser's surprise is the document's problem, said in one line
        out = {"error": f"The body is not a readable {argv[0]} document ({exc.__class__.__name__})."}
    sys.stdout.write(json.dumps(out))
    return 0 if "text" in out else 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
