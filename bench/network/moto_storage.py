"""Two fixes to moto, the bench's and the tests' S3 *server* (no client is touched):

* ranged GETs that cost what they cost on S3: O(range), not O(object);
* conditional PutObject (``If-Match`` / ``If-None-Match``) that is atomic, as on S3.

**Ranges.**

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

**Conditional writes.** moto's ``put_object`` checks the precondition, then stores the object,
with nothing between the two: two writers that read the same ETag can both pass the check, both
get 200, and the second silently replaces the first. S3 commits a conditional write atomically,
and the lab's concurrent appends rely on that (a manifest swap is a compare-and-swap): on a busy
machine moto lost one append in 200 (8 writers x 25 sessions). ``make_conditional_puts_atomic()``
runs every conditional PutObject under one lock, so the check and the store are one step; other
requests are untouched. `bench/network/server.py` applies it too, and `tests/conftest.py` applies
it to the tests' in-process moto server.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["make_conditional_puts_atomic", "serve_ranges_in_constant_time"]

_CONDITIONAL_PUT_LOCK = threading.Lock()


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


def make_conditional_puts_atomic() -> bool:
    """Run moto's conditional PutObject under one lock; False if moto's layout is unknown.
    Idempotent (applying it twice wraps once)."""
    try:
        from moto.s3.responses import S3Response
    except ImportError:
        return False
    original: Callable[..., Any] | None = getattr(S3Response, "put_object", None)
    if original is None:
        return False
    if getattr(original, "_atomic_conditional_puts", False):
        return True

    @functools.wraps(original)
    def put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        headers = self.headers
        if headers.get("If-Match") or headers.get("If-None-Match"):
            with _CONDITIONAL_PUT_LOCK:  # the precondition check and the store, as one step
                return original(self, *args, **kwargs)
        return original(self, *args, **kwargs)

    put_object._atomic_conditional_puts = True  # type: ignore[attr-defined]
    setattr(S3Response, "put_object", put_object)  # noqa: B010
    return True
