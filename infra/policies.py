"""IAM, KMS, S3 and endpoint policy documents, as plain data. Outputs are resolved with Output.json_dumps."""

from __future__ import annotations

from typing import Any

import pulumi

Statement = dict[str, Any]


def document(*statements: Statement) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> Statement:
    """164.312(e)(1): refuse any request to the bucket or its objects that is not over TLS 1.2+."""
    resources = pulumi.Output.from_input(bucket_arn).apply(lambda arn: [arn, f"{arn}/*"])
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": resources,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def deny_old_tls(bucket_arn: pulumi.Input[str]) -> Statement:
    resources = pulumi.Output.from_input(bucket_arn).apply(lambda arn: [arn, f"{arn}/*"])
    return {
        "Sid": "DenyTlsBelow12",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": resources,
        "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
    }


def service_trust(service: str, account_id: str, source_arn: str | None = None) -> pulumi.Output[str]:
    """A role trust policy for an AWS service, scoped to this account (confused-deputy protection)."""
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }
    )
