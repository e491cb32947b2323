"""The GPU hosts' first-boot script (EC2 user data): install the SSM agent, signature-checked, with no internet.

Debian's official AMI has no SSM agent, and Ansible reaches the hosts only through SSM, so this is the one package
a host fetches by itself: from AWS's regional SSM bucket, through the stack's S3 gateway endpoint (whose policy
admits that bucket: infra/components/endpoints.py), verified with `sqv` against AWS's SSM Agent signing key
(`infra/data/aws-ssm-agent.asc`, a trust anchor kept in the repository like Debian's archive keyring). Everything
else, the CloudWatch agent included, comes later from the offline bundle, checked against its pinned manifest.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlparse

KEYRING_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
KEYRING_END = "-----END PGP PUBLIC KEY BLOCK-----"


def ssm_agent_url(region: str) -> str:
    """AWS's Debian package of the SSM agent, from the region's own bucket (so the gateway endpoint serves it)."""
    return f"https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/debian_amd64/amazon-ssm-agent.deb"


def bucket_of(url: str) -> str:
    """The S3 bucket a path-style or virtual-hosted S3 URL names."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if host.startswith("s3.") or host == "s3.amazonaws.com":
        return parsed.path.lstrip("/").split("/", 1)[0]
    return host.split(".s3.", 1)[0]


def keyring() -> str:
    """AWS's SSM Agent signing key, armored, as kept in the repository."""
    text = resources.files("infra").joinpath("data/aws-ssm-agent.asc").read_text()
    lines = text.strip().splitlines()
    if not lines or lines[0] != KEYRING_BEGIN or lines[-1] != KEYRING_END:
        raise ValueError("infra/data/aws-ssm-agent.asc is not one armored OpenPGP public key block.")
    return "\n".join(lines)


def user_data(region: str, agent_url: str | None = None, signing_key: str | None = None) -> str:
    """The script for a host in region. agent_url and signing_key replace AWS's only in tests, which serve a
    package they signed themselves to a test host."""
    script = resources.files("infra").joinpath("data/bootstrap.sh").read_text()
    return script.replace("@AGENT_URL@", agent_url or ssm_agent_url(region)).replace(
        "@KEYRING@", (signing_key or keyring()).strip()
    )
