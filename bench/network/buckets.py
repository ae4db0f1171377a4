"""Bucket chores that S3 servers answer differently: creating one that exists, emptying all.

moto (in us-east-1, like AWS there) answers ``CreateBucket`` on a bucket you own with 200,
SeaweedFS with 409 ``BucketAlreadyOwnedByYou``; moto has a reset API, SeaweedFS has none.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

__all__ = ["delete_all_buckets", "empty_bucket", "ensure_bucket"]


def ensure_bucket(client: Any, bucket: str) -> bool:
    """Create ``bucket`` unless it exists (either answer a server gives); True if created.

    ``BucketAlreadyExists`` (someone else's bucket, on AWS) is an error: writing into it
    would fail later and less clearly.
    """
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "BucketAlreadyOwnedByYou":
            return False
        raise
    return True


def empty_bucket(client: Any, bucket: str, *, page_size: int = 1000) -> int:
    """Delete every object of ``bucket`` (one ``DeleteObjects`` per listed page); the count."""
    deleted = 0
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if not keys:
            continue
        result = client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        errors = result.get("Errors", [])
        if errors:
            raise RuntimeError(
                f"could not delete {len(errors)} object(s) of bucket {bucket} "
                f"(first: {errors[0].get('Key')!r}, {errors[0].get('Code')})"
            )
        deleted += len(keys)
    return deleted


def delete_all_buckets(client: Any) -> int:
    """Delete every object and every bucket ``client`` can list (buckets without versioning,
    as the lab writes them); the number of buckets deleted."""
    buckets = [bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])]
    for bucket in buckets:
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)
    return len(buckets)
