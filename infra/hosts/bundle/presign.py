"""Short-lived presigned GET URLs for a bundle's files, made on the controller (which holds AWS credentials) so
the hosts need neither credentials nor an AWS client: they fetch through the VPC's S3 gateway endpoint with plain
HTTPS and check each file's SHA-256 against the manifest, whose own SHA-256 is pinned in the inventory."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.errors import BundleError
from infra.hosts.bundle.manifest import FORMAT, NAME


def s3_client(session: Any, region: str, endpoint_url: str | None = None) -> Any:
    """SigV4 on the regional endpoint: objects under SSE-KMS can only be fetched with SigV4 signatures, and the
    regional name is what the VPC's S3 gateway endpoint routes."""
    config = Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint_url else "virtual"})
    return session.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


def presigned(s3: Any, bucket: str, prefix: str, manifest_sha256: str, ttl: int = 900) -> dict[str, Any]:
    """{"manifest": {"url", "sha256"}, "files": [{"path", "url", "sha256", "size"}]}, after checking that the
    manifest in the bucket is the pinned one. `s3` should come from s3_client."""
    key = f"{prefix.rstrip('/')}/{NAME}"
    try:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise BundleError(f"s3://{bucket}/{key}: cannot read the manifest ({exc}).") from None
    if hashlib.sha256(data).hexdigest() != manifest_sha256:
        raise BundleError(f"s3://{bucket}/{key}: not the pinned manifest (SHA-256 differs).")
    body = json.loads(data)
    if body.get("format") != FORMAT:
        raise BundleError(f"s3://{bucket}/{key}: not a {FORMAT} manifest.")

    def url(object_key: str) -> str:
        params = {"Bucket": bucket, "Key": object_key}
        return str(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl))

    files = [
        {"path": e["path"], "url": url(f"{prefix.rstrip('/')}/{e['path']}"), "sha256": e["sha256"], "size": e["size"]}
        for e in body["entries"]
    ]
    return {"manifest": {"url": url(key), "sha256": manifest_sha256}, "files": files}
