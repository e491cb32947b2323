"""RDS, every form (Aurora clusters and standalone instances): encrypted with a CMK, private, TLS only, backed up."""

from __future__ import annotations

from typing import Any

from compliance.controls._base import Record, control, each, finding
from compliance.facts import Facts
from compliance.facts.database import DB_CLUSTERS, DB_SNAPSHOTS
from compliance.facts.storage import KMS_KEYS
from compliance.model import Control, Finding, Status

MIN_BACKUP_DAYS = 7


RESOURCE_TYPES = {"cluster": "AWS::RDS::DBCluster", "instance": "AWS::RDS::DBInstance"}


def _clusters(facts: Facts, needs: tuple[str, ...], judge: Any, only: Any = None) -> list[Finding]:
    """Each database judged alike, whatever its form: an Aurora cluster or a standalone RDS instance (those
    ``only`` accepts, when given)."""
    databases = [d for d in facts.get(DB_CLUSTERS) if only is None or only(d)]
    return [
        found
        for kind, rtype in RESOURCE_TYPES.items()
        for found in each(
            [d for d in databases if d.get("kind", "cluster") == kind],
            needs,
            lambda c: c["arn"],
            rtype,
            lambda c: f"database {c['id']}",
            judge,
        )
    ]


def encrypted(facts: Facts) -> list[Finding]:
    cmks = {k["arn"] for k in facts.get(KMS_KEYS) if k.get("manager") == "CUSTOMER"}

    def judge(c: Record) -> tuple[bool, str, dict[str, Any]]:
        if not c.get("storage_encrypted"):
            return False, f"Database {c['id']} is not encrypted at rest.", {}
        if c.get("kms_key_id") not in cmks:
            return False, f"Database {c['id']} is encrypted with {c.get('kms_key_id')}, not a customer-managed key.", {}
        return True, f"Database {c['id']} is encrypted with customer-managed key {c['kms_key_id']}.", {}

    return _clusters(facts, ("storage_encrypted",), judge)


def not_public(facts: Facts) -> list[Finding]:
    def judge(c: Record) -> tuple[bool, str, dict[str, Any]]:
        if c.get("publicly_accessible"):
            return False, f"Database {c['id']} has a publicly accessible instance.", {}
        return True, f"Database {c['id']} has no publicly accessible instance.", {}

    return _clusters(facts, ("publicly_accessible",), judge)


# Engine -> the parameter that refuses connections without TLS, and the values that mean it does.
TLS_PARAMETERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("postgres", "rds.force_ssl", ("1", "on", "true")),  # PostgreSQL and Aurora PostgreSQL
    ("sqlserver", "rds.force_ssl", ("1", "true")),
    ("mysql", "require_secure_transport", ("1", "on", "true")),  # MySQL and Aurora MySQL
    ("mariadb", "require_secure_transport", ("1", "on", "true")),
    ("aurora", "require_secure_transport", ("1", "on", "true")),  # Aurora MySQL's older engine name
    ("docdb", "tls", ("enabled", "fips-140-3", "tls1.2+", "tls1.3+")),
    ("neptune", "neptune_enforce_ssl", ("1",)),
)


def _tls_parameter(engine: str) -> tuple[str, tuple[str, ...]] | None:
    return next(((name, good) for key, name, good in TLS_PARAMETERS if key in engine), None)


def force_ssl(facts: Facts) -> list[Finding]:
    def judge(c: Record) -> tuple[bool, str, dict[str, Any]]:
        name, good = _tls_parameter(str(c.get("engine"))) or ("", ())
        value = (c["parameters"] or {}).get(name)
        if str(value).lower() in good:
            return True, f"Database {c['id']} refuses connections without TLS ({name}={value}).", {"value": value}
        return (
            False,
            f"Database {c['id']} accepts connections without TLS ({name} is {value or 'unset'}).",
            {"value": value},
        )

    databases = facts.get(DB_CLUSTERS)
    # Oracle keeps TLS in an option group, not a parameter: what no parameter shows is ERROR, never a verdict.
    unknown = [
        finding(Status.ERROR, d["arn"], RESOURCE_TYPES.get(d.get("kind", "cluster"), "AWS::RDS::DBCluster"),
                d["region"], f"Database {d['id']} runs {d.get('engine')}, whose TLS setting no parameter shows; "
                "check its option group by hand.")
        for d in databases if _tls_parameter(str(d.get("engine"))) is None
    ]  # fmt: skip
    return unknown + _clusters(facts, ("parameters",), judge, only=lambda d: _tls_parameter(str(d.get("engine"))))


def backups(facts: Facts) -> list[Finding]:
    def judge(c: Record) -> tuple[bool, str, dict[str, Any]]:
        days = int(c.get("backup_retention_days") or 0)
        if days >= MIN_BACKUP_DAYS:
            return True, f"Database {c['id']} keeps automated backups {days} days.", {}
        return False, f"Database {c['id']} keeps automated backups {days} days, under {MIN_BACKUP_DAYS}.", {}

    return _clusters(facts, ("backup_retention_days",), judge)


def log_export(facts: Facts) -> list[Finding]:
    def judge(c: Record) -> tuple[bool, str, dict[str, Any]]:
        exported = list(c.get("log_exports") or [])
        wanted = "postgresql" if "postgres" in str(c.get("engine")) else "audit"
        if wanted in exported:
            return True, f"Database {c['id']} exports its {wanted} log to CloudWatch Logs.", {"exports": exported}
        return (
            False,
            f"Database {c['id']} does not export its {wanted} log to CloudWatch Logs (exports: "
            f"{', '.join(exported) or 'none'}).",
            {"exports": exported},
        )

    return _clusters(facts, ("log_exports",), judge)


def multi_az(facts: Facts) -> list[Finding]:
    def judge(c: Record) -> tuple[bool, str, dict[str, Any]]:
        if c.get("multi_az"):
            return True, f"Database {c['id']} has instances in more than one availability zone.", {}
        return False, f"Database {c['id']} has no instance outside one availability zone to fail over to.", {}

    return _clusters(facts, ("multi_az",), judge)


def snapshots_not_public(facts: Facts) -> list[Finding]:
    def judge(s: Record) -> tuple[bool, str, dict[str, Any]]:
        what = f"{'Aurora cluster' if s['kind'] == 'cluster' else 'RDS'} snapshot {s['id']}"
        if s.get("public"):
            return False, f"{what} can be restored by any AWS account.", {}
        return True, f"{what} is private.", {}

    snaps = facts.get(DB_SNAPSHOTS)
    if not snaps:
        return [
            finding(Status.PASS, f"{facts.account}/{r}/db-snapshots", "AWS::RDS::DBClusterSnapshot", r,
                    f"No manual database snapshot is owned by this account in {r}.")
            for r in facts.regions
        ]  # fmt: skip
    return each(
        snaps, ("public",), lambda s: s["arn"], "AWS::RDS::DBClusterSnapshot", lambda s: f"snapshot {s['id']}", judge
    )


CONTROLS: tuple[Control, ...] = (
    control(
        "rds-encrypted-cmk",
        "Databases are encrypted with a customer-managed key",
        "high",
        ("164.312(a)(2)(iv)", "164.310(d)(1)"),
        ("db_clusters", "kms_keys"),
        ("rds:DescribeDBClusters", "rds:DescribeDBInstances", "kms:ListKeys"),
        "The vector store holds embeddings and chunks of PHI.",
        "Encryption is set at creation: restore a snapshot copy encrypted with the stack's data key.",
        encrypted,
    ),
    control(
        "rds-not-public",
        "No database instance is publicly accessible",
        "critical",
        ("164.312(a)(1)", "164.312(e)(1)"),
        ("db_clusters",),
        ("rds:DescribeDBClusters", "rds:DescribeDBInstances"),
        "A public endpoint exposes the database to password guessing from anywhere.",
        "aws rds modify-db-instance --db-instance-identifier ID --no-publicly-accessible",
        not_public,
    ),
    control(
        "rds-force-ssl",
        "Databases refuse connections without TLS",
        "high",
        ("164.312(e)(1)", "164.312(e)(2)(ii)"),
        ("db_clusters",),
        (
            "rds:DescribeDBClusters",
            "rds:DescribeDBInstances",
            "rds:DescribeDBClusterParameters",
            "rds:DescribeDBParameters",
        ),
        "Without it a misconfigured client sends PHI and credentials in the clear.",
        "Set rds.force_ssl=1 (PostgreSQL) or require_secure_transport=ON (MySQL) in the cluster's or the "
        "instance's parameter group, and reboot.",
        force_ssl,
    ),
    control(
        "rds-backups",
        f"Databases keep automated backups at least {MIN_BACKUP_DAYS} days",
        "medium",
        ("164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"),
        ("db_clusters",),
        ("rds:DescribeDBClusters", "rds:DescribeDBInstances"),
        "The data backup plan needs backups that exist and can be restored to a point in time.",
        "aws rds modify-db-cluster (an instance: modify-db-instance) --backup-retention-period 35",
        backups,
    ),
    control(
        "rds-log-export",
        "Databases export their logs to CloudWatch Logs",
        "medium",
        ("164.312(b)", "164.308(a)(1)(ii)(D)"),
        ("db_clusters",),
        ("rds:DescribeDBClusters", "rds:DescribeDBInstances"),
        "Connection and error logs of the vector store are audit records; kept only on the instance they are lost "
        "with it and read by nobody.",
        "aws rds modify-db-cluster (an instance: modify-db-instance) --cloudwatch-logs-export-configuration "
        "EnableLogTypes=postgresql",
        log_export,
    ),
    control(
        "rds-multi-az",
        "Databases have an instance in a second availability zone",
        "medium",
        ("164.308(a)(7)(ii)(B)", "164.308(a)(7)(ii)(C)"),
        ("db_clusters",),
        ("rds:DescribeDBClusters", "rds:DescribeDBInstances"),
        "With every instance in one zone, a zone outage takes the knowledge base and its audit trail offline "
        "until it ends.",
        "Add a reader instance in another AZ of the cluster's subnet group (aws rds create-db-instance "
        "--db-cluster-identifier ID --availability-zone AZ); a standalone instance: aws rds modify-db-instance "
        "--multi-az.",
        multi_az,
    ),
    control(
        "rds-snapshots-not-public",
        "No database snapshot is public",
        "critical",
        ("164.312(a)(1)", "164.310(d)(1)"),
        ("db_snapshots",),
        (
            "rds:DescribeDBClusterSnapshots",
            "rds:DescribeDBClusterSnapshotAttributes",
            "rds:DescribeDBSnapshots",
            "rds:DescribeDBSnapshotAttributes",
        ),  # fmt: skip
        "A public snapshot lets any AWS account restore a full copy of the knowledge base and its audit trail.",
        "aws rds modify-db-cluster-snapshot-attribute --db-cluster-snapshot-identifier ID --attribute-name restore "
        "--values-to-remove all",
        snapshots_not_public,
    ),
)
