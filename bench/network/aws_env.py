"""Process environment for talking to the local moto server with real AWS clients."""

from __future__ import annotations

import os

__all__ = ["REGION", "use_local_aws_env"]

REGION = "us-east-1"


def use_local_aws_env() -> None:
    """Make botocore-based clients work against moto without touching any real account.

    Sets dummy credentials only if no access key is set (moto accepts any), a default region if
    none is set, and always disables the EC2 instance-metadata probe (it would add seconds of
    timeouts off EC2).
    """
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        os.environ["AWS_ACCESS_KEY_ID"] = "testing"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
