"""The bench server's object storage (bench/network/moto_storage.py): same bytes, O(range) GETs,
conditional writes with one winner."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bench.network import S3Server
from bench.network.aws_env import REGION, use_local_aws_env

BUCKET = "storage-tests"
BIG = bytes(range(256)) * (12 * 4096)  # 12 MiB: above moto's 5 MB spill-to-disk threshold


@contextmanager
def storage_client(*, in_process: bool = False) -> Iterator[Any]:
    """A boto3 client on a fresh server's raw endpoint, with ``BUCKET`` created (the process's
    AWS environment set for it, and restored afterwards)."""
    saved = dict(os.environ)
    use_local_aws_env()
    try:
        with S3Server(in_process=in_process) as server:
            assert server.serves_ranges_in_constant_time()
            client = boto3.client("s3", endpoint_url=server.raw_endpoint, region_name=REGION)
            client.create_bucket(Bucket=BUCKET)
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with storage_client() as client:
        yield client


def _get(s3: Any, key: str, byte_range: str | None = None) -> bytes:
    kwargs = {"Range": byte_range} if byte_range else {}
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key, **kwargs)["Body"].read()
    return body


def test_ranged_gets_return_exactly_the_requested_bytes(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="big", Body=BIG)
    assert _get(s3, "big") == BIG
    for first, last in ((0, 0), (0, 99), (5_000_000, 5_300_000), (len(BIG) - 10, len(BIG) - 1)):
        assert _get(s3, "big", f"bytes={first}-{last}") == BIG[first : last + 1]
    assert _get(s3, "big", "bytes=-100") == BIG[-100:]
    assert _get(s3, "big", f"bytes={len(BIG) - 7}-") == BIG[-7:]
    head = s3.head_object(Bucket=BUCKET, Key="big")
    assert head["ContentLength"] == len(BIG)
    assert head["ETag"] == f'"{hashlib.md5(BIG).hexdigest()}"'


def test_overwrite_copy_multipart_and_delete_keep_their_meaning(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"first version")
    s3.put_object(Bucket=BUCKET, Key="k", Body="second \u00e9")
    assert _get(s3, "k") == "second \u00e9".encode()
    s3.copy_object(Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "k"})
    assert _get(s3, "copy") == "second \u00e9".encode()
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp")
    parts = [BIG[: 6 * 1024 * 1024], BIG[6 * 1024 * 1024 :]]
    etags = [
        s3.upload_part(
            Bucket=BUCKET, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=part
        )["ETag"]
        for n, part in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    assert _get(s3, "mp", "bytes=6291000-6292000") == BIG[6291000:6292001]
    s3.delete_object(Bucket=BUCKET, Key="k")
    with pytest.raises(ClientError) as missing:
        _get(s3, "k")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


@pytest.fixture
def slow_precondition_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An in-process server that waits 50 ms after looking up a ``race-*`` key: a precondition
    check then holds a stale ETag for 50 ms before the store, so without the fix every racing
    writer passes the check (a deterministic race)."""
    from moto.s3.models import S3Backend

    lookup = S3Backend.get_object

    def slow_lookup(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        found = lookup(self, bucket_name, key_name, *args, **kwargs)
        if key_name.startswith("race-"):
            time.sleep(0.05)  # between reading the ETag and storing the new object
        return found

    monkeypatch.setattr(S3Backend, "get_object", slow_lookup)
    with storage_client(in_process=True) as client:
        yield client


@pytest.mark.timeout(120)
@pytest.mark.parametrize("condition", ["IfMatch", "IfNoneMatch"])
def test_conditional_puts_have_exactly_one_winner(
    slow_precondition_server: Any, condition: str
) -> None:
    """8 writers race a conditional PutObject with the same precondition (the ETag they read,
    or "the key does not exist"): exactly one wins and every other gets 412, as on S3. Stock
    moto checks, then stores: all 8 would pass the (slowed) check and 7 writes would be lost."""
    s3 = slow_precondition_server
    key = f"race-{condition}.json"
    if condition == "IfMatch":
        # not "v0": a writer whose body equals the first one's keeps the ETag, so a second
        # writer's If-Match would rightly still hold
        precondition = s3.put_object(Bucket=BUCKET, Key=key, Body=b"initial")["ETag"]
    else:
        precondition = "*"
    writers = 8
    start = threading.Barrier(writers)

    def write(number: int) -> bool:
        start.wait(timeout=30)
        try:
            s3.put_object(
                Bucket=BUCKET, Key=key, Body=f"v{number}".encode(), **{condition: precondition}
            )
        except ClientError as error:
            assert error.response["Error"]["Code"] == "PreconditionFailed", error.response
            return False
        return True

    with ThreadPoolExecutor(writers) as pool:
        won = [number for number, ok in enumerate(pool.map(write, range(writers))) if ok]
    assert len(won) == 1, won
    assert _get(s3, key) == f"v{won[0]}".encode()
