"""CloudWatch Logs: every log group encrypted with a CMK and kept as long as HIPAA documentation is."""

from __future__ import annotations

from typing import Any

from compliance.controls._base import Record, control, each
from compliance.facts import Facts
from compliance.facts.logging import LOG_GROUPS
from compliance.model import Control, Finding
from contract import SIX_YEARS_DAYS

GROUP = "AWS::Logs::LogGroup"


def _groups(facts: Facts, needs: tuple[str, ...], judge: Any) -> list[Finding]:
    return each(facts.get(LOG_GROUPS), needs, lambda g: g["arn"], GROUP, lambda g: f"log group {g['name']}", judge)


def kms(facts: Facts) -> list[Finding]:
    def judge(g: Record) -> tuple[bool, str, dict[str, Any]]:
        if g.get("kms_key_id"):
            return True, f"Log group {g['name']} is encrypted with {g['kms_key_id']}.", {}
        return (
            False,
            f"Log group {g['name']} is encrypted only with CloudWatch's own key, not a customer-managed key.",
            {},
        )

    return _groups(facts, ("kms_key_id",), judge)


def retention(facts: Facts) -> list[Finding]:
    # HIPAA's six years is the floor; a longer configured period raises it. Configuring less needs the
    # allow_short_log_retention opt-out, and this control still flags it.
    wanted = max(facts.context.log_retention_days or SIX_YEARS_DAYS, SIX_YEARS_DAYS)
    opt_out = facts.context.allow_short_log_retention

    def judge(g: Record) -> tuple[bool, str, dict[str, Any]]:
        days = g.get("retention_days")
        evidence = {"retention_days": days, "required_days": wanted}
        if days is None:
            return True, f"Log group {g['name']} never expires (at least {wanted} days).", evidence
        if days >= wanted:
            return True, f"Log group {g['name']} keeps events {days} days (at least {wanted}).", evidence
        reason = (
            " (the client opted out with allow_short_log_retention; flagged, waive it to accept)" if opt_out else ""
        )
        return (
            False,
            f"Log group {g['name']} keeps events only {days} days, under the required {wanted}{reason}.",
            evidence,
        )

    return _groups(facts, ("retention_days",), judge)


def never_expire_only_if_configured(facts: Facts) -> list[Finding]:
    allowed = facts.context.log_retention_days is None

    def judge(g: Record) -> tuple[bool, str, dict[str, Any]]:
        if g.get("retention_days") is not None:
            return True, f"Log group {g['name']} has a retention period ({g['retention_days']} days).", {}
        if allowed:
            return (
                True,
                f"Log group {g['name']} never expires, as the client configured (log_retention_days: never).",
                {},
            )
        return (
            False,
            (
                f"Log group {g['name']} never expires, but the client configured {facts.context.log_retention_days} "
                "days: data is kept (and billed, and exposed) with no end."
            ),
            {},
        )

    return _groups(facts, ("retention_days",), judge)


CONTROLS: tuple[Control, ...] = (
    control(
        "logs-kms",
        "Log groups are encrypted with a customer-managed key",
        "medium",
        ("164.312(a)(2)(iv)", "164.312(b)"),
        ("log_groups",),
        ("logs:DescribeLogGroups",),
        "Logs hold identifiers and can hold PHI; the AWS Config HIPAA pack dropped this rule.",
        "aws logs associate-kms-key --log-group-name NAME --kms-key-id KEY (the key policy must allow logs.REGION).",
        kms,
    ),
    control(
        "logs-retention",
        "Log groups keep events at least the configured period (six years by default)",
        "medium",
        ("164.316(b)(2)(i)", "164.312(b)"),
        ("log_groups",),
        ("logs:DescribeLogGroups",),
        "HIPAA documentation is kept six years; audit logs are part of it.",
        f"aws logs put-retention-policy --log-group-name NAME --retention-in-days {SIX_YEARS_DAYS}",
        retention,
    ),
    control(
        "logs-never-expire-configured",
        "Log groups never expire only where the client chose that",
        "low",
        ("164.316(b)(2)(i)",),
        ("log_groups",),
        ("logs:DescribeLogGroups",),
        "Prowler counts never-expiring groups as compliant; keeping data forever is a choice to record, not a default.",
        "Set the configured retention, or set log_retention_days: never in the client config.",
        never_expire_only_if_configured,
    ),
)
