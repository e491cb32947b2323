"""Put a built bundle in the stack's artifact bucket: every file SSE-KMS under the stack's key, with S3 checking
SHA-256 checksums on arrival (the whole object, or each part of a multipart upload); files already there with the
same sum are skipped, so an interrupted upload resumes where it stopped; the manifest goes last, so a bundle cut
short by an error has no manifest and cannot be installed. Files over the multipart threshold (model shards of 5 GB
and more, which one PUT cannot carry) go up in parts through boto3's managed transfer."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.exceptions import RetriesExceededError, S3UploadFailedError

from infra.errors import BundleError
from infra.hosts.bundle.manifest import NAME, load, sha256_file, verify

MULTIPART_THRESHOLD = 64 * 1024 * 1024  # and part size: 10,000 parts hold 640 GB, far above any shard


@dataclass(frozen=True)
class Uploaded:
    prefix: str
    sent: int
    skipped: int
    manifest_sha256: str  # what the inventory pins (phistack_bundle_manifest_sha256)


def _present(s3: Any, bucket: str, key: str, sha256: str) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return bool(head.get("Metadata", {}).get("sha256") == sha256)


def _put(s3: Any, bucket: str, key: str, path: Path, sha256: str, kms_key: str, threshold: int) -> None:
    encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key, "Metadata": {"sha256": sha256}}
    if path.stat().st_size < threshold:
        with path.open("rb") as body:  # one PUT, S3 checking the whole file's SHA-256
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
                **encryption,
            )
        return
    config = TransferConfig(multipart_threshold=threshold, multipart_chunksize=threshold, max_concurrency=4)
    s3.upload_file(str(path), bucket, key, ExtraArgs={**encryption, "ChecksumAlgorithm": "SHA256"}, Config=config)


def upload(s3: Any, root: Path, bucket: str, kms_key: str, multipart_threshold: int = MULTIPART_THRESHOLD) -> Uploaded:
    """Verify the bundle against its own manifest, then upload it under bundles/<client>/<version>/."""
    manifest = load(root / NAME)
    verify(root, manifest)
    prefix = f"bundles/{manifest.client}/{manifest.version}"
    sent = skipped = 0
    try:
        for entry in manifest.entries:
            key = f"{prefix}/{entry.path}"
            if _present(s3, bucket, key, entry.sha256):
                skipped += 1
                continue
            _put(s3, bucket, key, root / entry.path, entry.sha256, kms_key, multipart_threshold)
            sent += 1
        manifest_sum = sha256_file(root / NAME)
        _put(s3, bucket, f"{prefix}/{NAME}", root / NAME, manifest_sum, kms_key, multipart_threshold)
    except (ClientError, BotoCoreError, S3UploadFailedError, RetriesExceededError) as exc:
        raise BundleError(f"s3://{bucket}/{prefix}: upload failed ({exc}).") from None
    return Uploaded(prefix, sent, skipped, manifest_sum)
