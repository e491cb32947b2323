"""The command line's own errors. With infra's root (InfraError), compliance's (ComplianceError) and userfiles'
(UserFileError), these are the roots `main()` catches, each carrying its exit code: 2 for what the user can
fix, 3 for what could not be done, 1 for a bundle that does not verify. An audit that ran but could not judge
every control exits 4 (pipeline.exit_code): never 0, whatever else it found."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3  # clean · controls failed · bad input · incomplete
EXIT_UNJUDGED = 4  # the audit ran, and some control (unwaived) could not be judged: ERROR


class PhistackError(Exception):
    """Root of every error the command line raises on purpose."""

    exit_code = EXIT_INCOMPLETE


class UsageError(PhistackError):
    """A command-line mistake the user can fix (exit 2)."""

    exit_code = EXIT_USAGE


class NotTrusted(PhistackError):
    """A signed bundle that does not verify, so nothing is read from it (exit 1, as `report verify`)."""

    exit_code = EXIT_FAILED
