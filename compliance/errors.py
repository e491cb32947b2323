"""The compliance package's one error hierarchy; the CLI maps each kind to an exit code."""

from __future__ import annotations


class ComplianceError(Exception):
    """Root of every error the compliance package raises on purpose; ``exit_code`` is the CLI's."""

    exit_code = 3


class InputError(ComplianceError):
    """A plan, waiver file or option the user gave is unusable (exit 2)."""

    exit_code = 2


class IncompleteError(ComplianceError):
    """The assessment could not be carried out at all: no credentials, endpoint unreachable (exit 3)."""
