"""Read files a user names (a stack file, a waivers file, a public key, a bundle's signature) within bounded time
and memory: regular files only (a FIFO would block forever, a directory is not a file), at most a size limit.
YAML is read refusing what a hand-written config never needs and what makes a parser misbehave: anchors and
aliases (the "billion laughs"), tags beyond plain scalars, maps and lists (`!!binary`, `!!set`, `!!python/...`),
duplicate keys (YAML lets the last one win silently), keys that are not strings, nesting deeper than any config.
Dates and times stay strings: their readers check them (`2026-02-30` is then "not a date", never a traceback).

A leaf that infra and compliance both use: it imports neither of them, nor anything else of ours."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq"))


class UserFileError(Exception):
    """A file a user named that cannot be read safely: ``problem`` says why (and where, when known). The
    packages that read user files (infra, compliance) wrap it in their own errors; the CLI maps it to exit 2."""

    exit_code = 2

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


class _AliasRefused(Exception):
    def __init__(self, mark: Any) -> None:
        self.mark = mark


# YAML 1.2's core schema, as the Pulumi CLI reads stack files: only true/false are booleans (YAML 1.1 also took
# on/off/yes/no, so `client: on` became true) and integers are decimal (1.1 read 0755 as octal and 1:20 as 80).
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_REPLACED = {"tag:yaml.org,2002:bool": _BOOL, "tag:yaml.org,2002:int": _INT}


def _resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(t, _REPLACED.get(t, r)) for t, r in resolvers if t != "tag:yaml.org,2002:timestamp"]
        if kept:
            table[first] = kept
    return table


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's booleans and integers, no timestamps (dates stay strings) and no aliases."""

    yaml_implicit_resolvers = _resolvers()

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        return super().compose_node(parent, index)  # type: ignore[arg-type]


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}" if mark is not None else "somewhere"


def _check(node: Node, depth: int, source: str) -> None:
    line = _where(node.start_mark)
    if depth > MAX_DEPTH:
        raise UserFileError(source, f"{line}: nested deeper than {MAX_DEPTH} levels.")
    if node.tag not in PLAIN_TAGS:
        raise UserFileError(source, f"{line}: the tag {node.tag} is not allowed (plain values, maps and lists only).")
    if isinstance(node, SequenceNode):
        for item in node.value:
            _check(item, depth + 1, source)
    elif isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                raise UserFileError(source, f"{_where(key.start_mark)}: a key must be a plain string.")
            if key.value in seen:
                raise UserFileError(source, f"{_where(key.start_mark)}: the key {key.value!r} appears twice.")
            seen.add(key.value)
            _check(value, depth + 1, source)


def read_bytes(path: Path, what: str, limit: int = MAX_BYTES) -> bytes:
    """The file's content, if it is a regular file of at most ``limit`` bytes (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserFileError(path, f"the {what} does not exist.") from None
    except OSError as exc:
        raise UserFileError(path, f"the {what} cannot be read ({exc.strerror}).") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise UserFileError(path, f"the {what} is {kind}.")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UserFileError(path, f"the {what} is larger than {limit} bytes.")
    return data


def read_text(path: Path, what: str, limit: int = MAX_BYTES) -> str:
    """As read_bytes, decoded as UTF-8."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserFileError(path, f"the {what} is not UTF-8 (byte {exc.start}).") from None


def load(path: Path, what: str) -> Any:
    """The file's one YAML document as plain Python data (dicts with string keys, lists, scalars, dates as
    strings); None for an empty file. UserFileError, naming the file, for anything else."""
    text = read_text(path, what)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check(node, 1, str(path))
        return loader.construct_document(node)
    except _AliasRefused as exc:
        raise UserFileError(path, f"{_where(exc.mark)}: YAML aliases (*name) are not allowed here.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or exc.__class__.__name__
        raise UserFileError(path, f"is not valid YAML{where}: {reason}.") from None
    except RecursionError:
        raise UserFileError(path, f"nested deeper than {MAX_DEPTH} levels.") from None
    finally:
        loader.dispose()
