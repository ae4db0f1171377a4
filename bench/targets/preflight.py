"""Before and after a real run: the preflight that turns missing credentials, a missing bucket,
denied access and a wrong region into one-line errors, and the run prefix's cleanup."""

from __future__ import annotations

from typing import Any

import botocore.exceptions as bce

from bench.targets.real import RealTarget
from contexts.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ContextError,
    CredentialsError,
    StorageError,
)
from contexts.transport.options import S3Options
from contexts.transport.s3 import make_s3_client, make_session, translate_error

_PROBE = ".ctxlab-preflight"


class WrongRegionError(StorageError):
    """The bucket lives in another region than the client was configured for."""


def preflight(target: RealTarget) -> None:
    """Check credentials, the bucket, its region and write/delete access before any work.

    Raises a :class:`ContextError` whose one-line message says what to fix (never a secret).
    """
    options = target.options(connect_timeout_s=5.0, read_timeout_s=15.0, max_attempts=2)
    endpoint = options.describe_endpoint()
    bucket = target.location.bucket
    if make_session(options).get_credentials() is None:
        raise CredentialsError(
            f"no AWS credentials found for {endpoint}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --aws-profile, or run with an IAM role"
        )
    client = make_s3_client(options)
    try:
        try:
            response = client.head_bucket(Bucket=bucket)
        except Exception as exc:
            raise _bucket_error(exc, bucket, endpoint, client.meta.region_name, options) from None
        _check_region(response, bucket, client.meta.region_name)
        probe = target.run_prefix + _PROBE
        try:
            client.put_object(Bucket=bucket, Key=probe, Body=b"ctxlab preflight\n")
            client.delete_object(Bucket=bucket, Key=probe)
        except Exception as exc:
            raise _bucket_error(
                exc, bucket, endpoint, client.meta.region_name, options, writing=True
            ) from None
    finally:
        client.close()


def _bucket_error(
    exc: Exception,
    bucket: str,
    endpoint: str,
    region: str | None,
    options: S3Options,
    *,
    writing: bool = False,
) -> ContextError:
    """A one-line, fix-naming error for a failed preflight request."""
    if not isinstance(exc, bce.ClientError):
        return translate_error(exc, url=f"s3://{bucket}/", options=options)
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("404", "NoSuchBucket", "NotFound"):
        return BucketNotFoundError(
            f"bucket {bucket!r} does not exist on {endpoint}: create it "
            f"(aws s3 mb s3://{bucket}) or fix the bucket name / --endpoint-url"
        )
    if code in ("301", "PermanentRedirect", "AuthorizationHeaderMalformed"):
        _check_region(exc.response, bucket, region)
        return WrongRegionError(
            f"bucket {bucket!r} is not in region {region or '(default)'} ({code}): pass the "
            "bucket's region with --region"
        )
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return CredentialsError(
            f"{endpoint} rejected the AWS credentials in use ({code}): check AWS_PROFILE / "
            "--aws-profile or the access key, or refresh them (e.g. aws sso login)"
        )
    if code in ("403", "AccessDenied", "Forbidden", "AllAccessDisabled"):
        needed = "s3:PutObject and s3:DeleteObject" if writing else "s3:ListBucket"
        return AccessDeniedError(
            f"access to bucket {bucket!r} on {endpoint} was denied ({code}): the bench needs "
            f"{needed} (and s3:GetObject) there; check --aws-profile / AWS_PROFILE and the "
            "bucket policy"
        )
    return translate_error(exc, url=f"s3://{bucket}/", options=options)


def _check_region(response: dict[str, Any], bucket: str, region: str | None) -> None:
    """Raise :class:`WrongRegionError` if the bucket says it lives in another region."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    actual = headers.get("x-amz-bucket-region")
    if actual and region and region not in (actual, "auto"):
        raise WrongRegionError(
            f"bucket {bucket!r} is in region {actual}, not {region}: pass --region {actual}"
        )


def delete_prefix(target: RealTarget) -> int:
    """Delete every object under the run prefix; the number deleted."""
    options = target.options()
    client = make_s3_client(options)
    deleted = 0
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=target.location.bucket, Prefix=target.run_prefix
        )
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not keys:
                continue
            response = client.delete_objects(
                Bucket=target.location.bucket, Delete={"Objects": keys, "Quiet": True}
            )
            if response.get("Errors"):
                raise StorageError(
                    f"{len(response['Errors'])} object(s) under {target.run_url} could not be "
                    f"deleted ({response['Errors'][0].get('Code')}); delete them with "
                    f"aws s3 rm --recursive {target.run_url}"
                )
            deleted += len(keys)
    except bce.BotoCoreError as exc:
        raise translate_error(exc, url=target.run_url, options=options) from exc
    except bce.ClientError as exc:
        raise translate_error(exc, url=target.run_url, options=options) from exc
    finally:
        client.close()
    return deleted
