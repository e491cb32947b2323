"""CloudWatch Logs filter patterns, evaluated against a log event: whether a metric filter counts an event is judged
by what the pattern matches, not by the words in its text (a filter that names `CreateNetworkAclEntry` but not the
other five network ACL calls misses five of six changes; one that names `Root` may match no root activity).

Both forms CloudWatch Logs accepts for JSON events are read:
- JSON patterns, `{ ($.eventName = CreateVpc) || ($.userIdentity.type = "Root" && $.x NOT EXISTS) }`: selectors
  with `=`/`!=` (strings, `*` a wildcard), `<`, `<=`, `>`, `>=` (numbers), `IS NULL`, `IS TRUE`, `IS FALSE`,
  `EXISTS`, `NOT EXISTS`, `&&` binding tighter than `||`, parentheses.
- Term patterns, `"Failed authentication" ConsoleLogin` (every term), `?AccessDenied ?UnauthorizedOperation` (any),
  `-term` (none), matched case-sensitively against the event's text.

Anything else (the space-delimited `[a, b=...]` form, a syntax error) raises PatternError: what a pattern this
module cannot read would catch is unknown, and the control says so rather than guess. So does a regular
expression (`%...%`): Python's and CloudWatch's regular expressions differ, and a guess would be a verdict.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_PATTERN = 4096  # CloudWatch accepts 1024 characters; anything longer is not a pattern from AWS
MAX_DEPTH = 64

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]
_MISSING = object()


class PatternError(ValueError):
    """A filter pattern this module cannot read."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
    | (?P<keyword>IS\s+NULL|IS\s+TRUE|IS\s+FALSE|NOT\s+EXISTS|EXISTS)(?![\w.])
    | (?P<selector>\$(?:\.[\w@:-]+|\[\d+\])*)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<bare>[^\s()&|=!<>"]+)
    )""",
    re.VERBOSE,
)


def _tokens(body: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(body):
        if body[at:].strip() == "":
            break
        found = _TOKEN.match(body, at)
        if not found or found.end() == at:
            raise PatternError(f"cannot read the pattern at {body[at : at + 20]!r}")
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        at = found.end()
    return out


def _select(event: Any, selector: str) -> Any:
    value = event
    for name, index in re.findall(r"\.([\w@:-]+)|\[(\d+)\]", selector[1:]):
        if name and isinstance(value, Mapping):
            value = value.get(name, _MISSING)
        elif index and isinstance(value, list):
            value = value[int(index)] if int(index) < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _unquote(raw: str) -> str:
    """A value as written: a quoted string's escapes resolved; a regular expression (%...%) refused."""
    if raw.startswith("%") and raw.endswith("%") and len(raw) > 1:
        raise PatternError(f"regular expressions ({raw}) are not read")
    if not raw.startswith('"'):
        return raw
    try:
        text = json.loads(raw)
    except ValueError:
        raise PatternError(f"cannot read the quoted value {raw[:40]!r}") from None
    return str(text)


def _string_test(op: str, raw: str) -> Callable[[Any], bool]:
    text = _unquote(raw)
    number = _number(text) if not raw.startswith('"') else None
    wildcard = re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL) if "*" in text else None

    def equal(value: Any) -> bool:
        if value is _MISSING or isinstance(value, Mapping | list):
            return False
        if number is not None and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) == number
        shown = json.dumps(value) if isinstance(value, bool) or value is None else str(value)
        return wildcard.fullmatch(shown) is not None if wildcard else shown == text

    if op == "=":
        return equal
    return lambda value: value is not _MISSING and not equal(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric_test(op: str, raw: str) -> Callable[[Any], bool]:
    bound = _number(raw)
    if bound is None:
        raise PatternError(f"{op} needs a number, not {raw!r}")
    compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[op]

    def test(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and compare(float(value), bound)

    return test


_KEYWORDS: dict[str, Callable[[Any], bool]] = {
    "IS NULL": lambda v: v is None,
    "IS TRUE": lambda v: v is True,
    "IS FALSE": lambda v: v is False,
    "EXISTS": lambda v: v is not _MISSING,
    "NOT EXISTS": lambda v: v is _MISSING,
}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.at, self.depth = tokens, 0, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PatternError("the pattern ends too early")
        self.at += 1
        return token

    def either(self) -> Predicate:
        parts = [self.both()]
        while self.peek() == ("op", "||"):
            self.take()
            parts.append(self.both())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def both(self) -> Predicate:
        parts = [self.atom()]
        while self.peek() == ("op", "&&"):
            self.take()
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def atom(self) -> Predicate:
        kind, text = self.take()
        if (kind, text) == ("op", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise PatternError(f"more than {MAX_DEPTH} nested parentheses")
            inner = self.either()
            if self.take() != ("op", ")"):
                raise PatternError("a parenthesis is not closed")
            self.depth -= 1
            return inner
        if kind != "selector":
            raise PatternError(f"expected a $.field, found {text!r}")
        selector = text
        kind, text = self.take()
        if kind == "keyword":
            test = _KEYWORDS[" ".join(text.split())]
        elif kind == "op" and text in ("=", "!="):
            value_kind, value = self.take()
            if value_kind not in ("quoted", "bare"):
                raise PatternError(f"expected a value after {selector} {text}, found {value!r}")
            test = _string_test(text, value)
        elif kind == "op" and text in ("<", "<=", ">", ">="):
            test = _numeric_test(text, self.take()[1])
        else:
            raise PatternError(f"expected a comparison after {selector}, found {text!r}")
        return lambda e: test(_select(e, selector))


def _terms(pattern: str) -> Predicate:
    words = re.findall(r'([?-]?)("(?:[^"\\]|\\.)*"|\S+)', pattern)
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    for mark, word in words:
        text = _unquote(word)
        {"": required, "?": optional, "-": excluded}[mark].append(text)
    if any(w.startswith("[") or w.startswith("{") for w in required + optional):
        raise PatternError("space-delimited patterns are not read")

    def test(event: Event) -> bool:
        line = json.dumps(event, separators=(",", ":"))
        return (
            all(t in line for t in required)
            and (not optional or any(t in line for t in optional))
            and not any(t in line for t in excluded)
        )

    return test


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Predicate:
    """The pattern as a test of one event. PatternError when it cannot be read."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"longer than {MAX_PATTERN} characters")
    text = pattern.strip()
    if not text:
        return lambda event: True  # an empty pattern matches every event
    if not text.startswith("{"):
        return _terms(text)
    if not text.endswith("}"):
        raise PatternError("a JSON pattern must end with }")
    parser = _Parser(_tokens(text[1:-1]))
    predicate = parser.either()
    if parser.peek() is not None:
        raise PatternError(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return predicate


def matches(pattern: str, event: Event) -> bool:
    return compile_pattern(pattern)(event)
