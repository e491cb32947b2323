"""The infra package's one error hierarchy. The CLI maps each kind to an exit code."""

from __future__ import annotations


class InfraError(Exception):
    """Root of every error the infra package raises on purpose. ``exit_code`` is the CLI's: 2 for what the
    user can fix (bad input), 3 for what could not be completed."""

    exit_code = 3


class ConfigError(InfraError):
    """The client configuration (a stack file or the stack's Pulumi config) is unusable.

    ``problems`` holds one full sentence per problem, each naming the key and the value seen.
    """

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self, limit: int = 5) -> str:
        shown = self.problems[:limit]
        more = len(self.problems) - len(shown)
        lines = [f"{self.source}: {p}" for p in shown]
        if more:
            lines.append(f"{self.source}: ... and {more} more problem(s).")
        return "\n".join(lines)


class PlanError(InfraError):
    """The program could not be run under mocks (a bug or an unanswered invoke, never a user mistake)."""


class BundleError(InfraError):
    """An install bundle that cannot be built, uploaded or trusted (a file missing, altered or unexpected)."""


class CAError(InfraError):
    """The client's CA is missing, already made, or unusable; or a certificate request is malformed."""

    exit_code = 2


class HostError(InfraError):
    """A local test host (systemd-nspawn) could not be built, booted, reached or installed."""


class EmulatorError(InfraError):
    """The embedded AWS emulator (moto) could not be started on this machine."""
