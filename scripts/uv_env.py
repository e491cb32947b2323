"""Print the `export` lines that make uv install from the same places pip would on this machine.

uv reads none of pip's configuration (pip.conf files, PIP_* variables), so a machine whose pip is pointed at a mirror,
a local wheel folder or a constraints file would otherwise get different packages from uv than from pip. This reads
pip's own view (`pip config list`, every scope, the environment's highest) and says it in uv's words:

    index-url -> UV_INDEX_URL          extra-index-url -> UV_EXTRA_INDEX_URL      constraint -> UV_CONSTRAINT
    find-links -> PHISTACK_FIND_LINKS (setup.sh passes each as --find-links: uv's flag replaces its variable)
    cert -> SSL_CERT_FILE (with UV_NATIVE_TLS)                 timeout -> UV_HTTP_TIMEOUT
    no-index -> UV_NO_INDEX            trusted-host -> UV_INSECURE_HOST

and asks uv to pick the best version across all indexes, as pip does (UV_INDEX_STRATEGY=unsafe-best-match: uv's
default takes the first index that has a package at all). Run by scripts/setup.sh with the Python it builds the
virtual environment from; standard library only. Any other setting that changes where packages come from (a
proxy, only-binary, ...), or a value it cannot read, exits 3 naming it, and setup installs with pip instead.

    python3 scripts/uv_env.py        # prints shell lines for `eval`
"""

from __future__ import annotations

import shlex
import subprocess
import sys

# `pip config list` names where each key came from: the environment (:env:), or a configuration file's section. The
# environment beats the files, and in a file the `install` command's section beats `global` (pip's own order).
PRECEDENCE = {":env:": 0, "install": 1, "global": 2}
# Keys that change nothing about which packages come from where: nothing to say to uv.
HARMLESS = {
    "disable-pip-version-check", "no-cache-dir", "progress-bar", "quiet", "verbose", "root-user-action",
    "no-warn-script-location", "no-color", "no-input", "retries", "cache-dir", "log", "config-file",
}  # fmt: skip
MAPPED = {
    "index-url": "UV_INDEX_URL",
    "extra-index-url": "UV_EXTRA_INDEX_URL",
    "constraint": "UV_CONSTRAINT",
    "find-links": "PHISTACK_FIND_LINKS",
    "cert": "SSL_CERT_FILE",
    "timeout": "UV_HTTP_TIMEOUT",
    "default-timeout": "UV_HTTP_TIMEOUT",
    "no-index": "UV_NO_INDEX",
    "trusted-host": "UV_INSECURE_HOST",
}


class Untranslatable(Exception):
    """pip is configured in a way uv would not follow (a proxy, only-binary, ...): setup installs with pip."""


def parse(listing: str) -> dict[str, str]:
    """pip's `config list` lines (`global.find-links='/opt/wheels'`) → {key: value}, the highest scope winning."""
    chosen: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, sep, quoted = line.partition("=")
        scope, dot, key = name.rpartition(".")
        if not sep or not dot or scope not in PRECEDENCE:
            continue
        # Several values are one per line in a file, shown with a literal \n; quoting as pip prints it.
        words = shlex.split(quoted.replace("\\n", " "))
        value = " ".join(" ".join(words).split())
        rank = PRECEDENCE[scope]
        if key not in chosen or rank < chosen[key][0]:
            chosen[key] = (rank, value)
    return {key: value for key, (_, value) in chosen.items()}


def exports(config: dict[str, str]) -> list[str]:
    found: dict[str, str] = {"UV_INDEX_STRATEGY": "unsafe-best-match"}
    for key, value in config.items():
        variable = MAPPED.get(key)
        if variable is None and key not in HARMLESS:
            raise Untranslatable(f"pip's setting {key!r} has no uv equivalent here")
        if variable and value:
            found[variable] = value
    if "UV_NO_INDEX" in found:
        if found["UV_NO_INDEX"].lower() not in ("1", "true", "yes", "on"):
            del found["UV_NO_INDEX"]
        else:
            found["UV_NO_INDEX"] = "1"
    if "SSL_CERT_FILE" in found:
        found["UV_NATIVE_TLS"] = "1"
    if "UV_HTTP_TIMEOUT" in found:
        found["UV_HTTP_TIMEOUT"] = found["UV_HTTP_TIMEOUT"].split(".")[0]
    return [f"export {name}={shlex.quote(value)}" for name, value in sorted(found.items())]


def main() -> int:
    """Exit 0 with the lines; exit 3 with a reason on stderr when uv cannot be made to install as pip would."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout  # no pip, or no configuration: uv's own defaults (PyPI)
    try:
        lines = exports(parse(listing))
    except (Untranslatable, ValueError) as exc:  # ValueError: a value shlex cannot read (an unclosed quote)
        print(f"uv_env: {exc}", file=sys.stderr)  # noqa: T201
        return 3
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
