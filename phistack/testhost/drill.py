"""The README's point-in-time restore, rehearsed on `phistack demo --host`'s Debian 13 host with the command a
deploy engineer runs (`phistack-db-archive restore TIME`): the moment is marked between two batches of audited
requests, the database is restored to it from the archive in the stack's db-archive bucket, and then

- every audit event committed before the moment is there, and none after it;
- the audit chain verifies (`phistack-gateway audit verify`, as the README gives it);
- the gateway answers again (its /readyz);
- the daily base backup's systemd unit, started by hand, completes on the new timeline.

The host's PostgreSQL, barman-cloud and the role's script are the real ones from the bundle; the bucket is the
emulated account's (moto), reached as the host reaches S3 in a VPC."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra.errors import HostError

if TYPE_CHECKING:
    from phistack.testhost.nspawn import Host

TRAIL_SQL = "SELECT count(*) || ' ' || coalesce(max(seq), 0) FROM audit_events"
RESTORE_COMMAND = "/usr/local/sbin/phistack-db-archive restore '{target}'"
VERIFY_COMMAND = (
    "runuser -u phistack-auditor -- /opt/phistack/gateway/venv/bin/phistack-gateway audit verify "
    "--dsn 'host=/var/run/postgresql dbname=phistack user=phistack_auditor'"
)


@dataclass(frozen=True)
class Drill:
    target: str  # the moment restored to, as the host's clock gave it
    kept: tuple[int, int]  # (events, last sequence number) committed before the target
    after: tuple[int, int]  # the same just before the restore: what the target leaves out
    restored: tuple[int, int]  # the same on the restored database
    verified: str  # the audit chain's verification line
    seconds: float  # the restore command's wall time


def _ssh(host: Host, command: str, timeout: float = 120) -> str:
    done = host.run(command, timeout)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise HostError(f"on the local host, `{command.split()[0]}` exited {done.returncode}: {detail}")
    return done.stdout.strip()


def _trail(host: Host) -> tuple[int, int]:
    count, last = _ssh(host, f'runuser -u postgres -- psql -XAt -d phistack -c "{TRAIL_SQL}"').split()
    return int(count), int(last)


def _quiet_moment(host: Host) -> tuple[str, tuple[int, int]]:
    """A moment on the host's clock with the trail the same just before and just after it (the sync service
    also writes events): what a restore to that moment must bring back, exactly."""
    for _ in range(10):
        before = _trail(host)
        moment = _ssh(host, "date -u '+%Y-%m-%d %H:%M:%S.%6N+00'")
        time.sleep(1.0)
        if _trail(host) == before:
            return moment, before
    raise HostError("the audit trail on the local host never stood still for a second: no moment to restore to")


def rehearse(host: Host, more_requests: Callable[[], None], wait_ready: Callable[[], None]) -> Drill:
    """Mark a moment, make more audited requests, restore to the moment; what came back."""
    target, kept = _quiet_moment(host)
    time.sleep(1.0)
    more_requests()
    after = _trail(host)
    if after[0] <= kept[0]:
        raise HostError("the requests after the restore point wrote no audit event: nothing to tell apart")
    started = time.monotonic()
    _ssh(host, RESTORE_COMMAND.format(target=target), timeout=900)
    seconds = time.monotonic() - started
    wait_ready()
    restored = _trail(host)
    verified = _ssh(host, VERIFY_COMMAND).splitlines()[-1]
    _ssh(host, "systemctl start phistack-db-backup.service", timeout=900)  # oneshot: returns when it has finished
    return Drill(target, kept, after, restored, verified, seconds)
