"""The sandbox's moto server evaluates the stack's bucket policies as AWS does for a request over TLS 1.2+:
the program's "deny plain HTTP and TLS < 1.2" statement does not refuse every object request (stock moto does,
since it never has the request's context), and a statement without a Condition still denies."""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.exceptions
import pytest

from infra.sandbox.server import moto_server


def _s3(url: str) -> Any:
    session = boto3.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    return session.client("s3", endpoint_url=url)


def test_conditional_denies_do_not_refuse_every_request_and_unconditional_ones_still_do() -> None:
    with moto_server() as url:
        s3 = _s3(url)
        arn = "arn:aws:s3:::tls-only"
        s3.create_bucket(Bucket="tls-only")
        resources = [arn, f"{arn}/*"]
        tls_only = {"Version": "2012-10-17", "Statement": [  # as infra/policies.py writes them for every bucket
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": resources,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": resources,
             "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
        ]}  # fmt: skip
        s3.put_bucket_policy(Bucket="tls-only", Policy=json.dumps(tls_only))
        s3.put_object(Bucket="tls-only", Key="a", Body=b"x")
        assert s3.get_object(Bucket="tls-only", Key="a")["Body"].read() == b"x"

        deny = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*"}]}  # fmt: skip
        s3.put_bucket_policy(Bucket="tls-only", Policy=json.dumps(deny))
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            s3.get_object(Bucket="tls-only", Key="a")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
