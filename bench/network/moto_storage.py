"""Ranged GETs that cost what they cost on S3: O(range), not O(object), in the bench's server.

moto keeps each object body in a `SpooledTemporaryFile` (spilled to disk above ~5 MB) and reads
the whole body for every GET before slicing out the requested range. A 100-byte range of the
106 MB single-object corpus then costs ~53 ms of server CPU, serialised across connections by
moto's per-key lock; real S3 serves it in a few milliseconds. That artifact would make every
byte-range client (the lab's `s3-byte-range`, the s3fs peers) look slow for a reason no real
bucket has.

`serve_ranges_in_constant_time()` changes only how the bench's own server process stores bodies:
an immutable `bytes` object inside `io.BytesIO`, which CPython shares instead of copying on
construction and on a whole read. moto's request parsing, range handling, headers, ETags and
errors are untouched, and so is every client. `bench/network/server.py` applies it wherever an
`S3Server` runs moto (its spawned process, or the caller's with `in_process=True`).
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["serve_ranges_in_constant_time"]


def serve_ranges_in_constant_time() -> bool:
    """Store moto object bodies as shared immutable bytes; False if moto's layout is unknown."""
    try:
        from moto.s3.models import FakeKey
    except ImportError:
        return False
    value = getattr(FakeKey, "value", None)
    if not isinstance(value, property) or value.fset is None:
        return False  # a moto version that no longer stores bodies this way: leave it alone

    def set_value(key: Any, new_value: bytes | str) -> None:
        if isinstance(new_value, str):
            new_value = new_value.encode("utf-8")
        old = getattr(key, "_value_buffer", None)
        # BytesIO(bytes) shares the bytes object; a whole read at offset 0 returns it uncopied.
        key._value_buffer = io.BytesIO(bytes(new_value))
        key.contentsize = len(new_value)
        if old is not None:
            old.close()

    setattr(FakeKey, "value", value.setter(set_value))  # noqa: B010 (mypy: a property)
    return True
