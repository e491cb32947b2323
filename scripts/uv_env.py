"""Print the `export` lines that make uv install from the same places pip would on this machine.

uv reads none of pip's configuration (pip.conf files, PIP_* variables), so a machine whose pip is pointed at a mirror,
a local wheel folder or a constraints file would otherwise get different packages from uv than from pip. This reads
pip's own view (`pip config list`, every scope, the environment's highest) and says it in uv's words:

    index-url -> UV_INDEX_URL          extra-index-url -> UV_EXTRA_INDEX_URL      constraint -> UV_CONSTRAINT
    find-links -> PHISTACK_FIND_LINKS (setup.sh passes each as --find-links: uv's flag replaces its variable)
    cert -> SSL_CERT_FILE (with UV_NATIVE_TLS)                 timeout -> UV_HTTP_TIMEOUT

and asks uv to pick the best version across all indexes, as pip does (UV_INDEX_STRATEGY=unsafe-best-match: uv's
default takes the first index that has a package at all). Run by scripts/setup.sh with the Python it builds the
virtual environment from; standard library only.

    python3 scripts/uv_env.py        # prints shell lines for `eval`
"""

from __future__ import annotations

import shlex
import subprocess
import sys

# `pip config list` names a scope before each key: the environment (:env:) beats the site, the user and the global
# files (pip's own order of precedence).
PRECEDENCE = {":env:": 0, "site": 1, "user": 2, "global": 3}
MAPPED = {
    "index-url": "UV_INDEX_URL",
    "extra-index-url": "UV_EXTRA_INDEX_URL",
    "constraint": "UV_CONSTRAINT",
    "find-links": "PHISTACK_FIND_LINKS",
    "cert": "SSL_CERT_FILE",
    "timeout": "UV_HTTP_TIMEOUT",
    "default-timeout": "UV_HTTP_TIMEOUT",
}


def parse(listing: str) -> dict[str, str]:
    """pip's `config list` lines (`global.find-links='/opt/wheels'`) → {key: value}, the highest scope winning."""
    chosen: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, sep, quoted = line.partition("=")
        scope, dot, key = name.rpartition(".")
        if not sep or not dot or scope not in PRECEDENCE:
            continue
        words = shlex.split(quoted)
        value = " ".join(words)
        rank = PRECEDENCE[scope]
        if key not in chosen or rank < chosen[key][0]:
            chosen[key] = (rank, value)
    return {key: value for key, (_, value) in chosen.items()}


def exports(config: dict[str, str]) -> list[str]:
    found: dict[str, str] = {"UV_INDEX_STRATEGY": "unsafe-best-match"}
    for key, value in config.items():
        variable = MAPPED.get(key)
        if variable and value:
            found[variable] = value
    if "SSL_CERT_FILE" in found:
        found["UV_NATIVE_TLS"] = "1"
    if "UV_HTTP_TIMEOUT" in found:
        found["UV_HTTP_TIMEOUT"] = found["UV_HTTP_TIMEOUT"].split(".")[0]
    return [f"export {name}={shlex.quote(value)}" for name, value in sorted(found.items())]


def main() -> int:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout  # no pip, or no configuration: uv's own defaults (PyPI)
    print("\n".join(exports(parse(listing))))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
