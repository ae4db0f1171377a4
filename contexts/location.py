"""Where a context lives: ``s3://bucket/prefix/`` or a directory, and safe names inside it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from contexts.errors import InvalidURLError, UnsafePathError

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""Names without a separator, backslash or NUL: safe unless they are ``.`` or ``..``."""


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (``""`` or ending in ``"/"``)."""

    bucket: str
    """Bucket name."""
    prefix: str
    """Key prefix under which the layout's objects live."""

    def key(self, name: str) -> str:
        """The object key for a layout-relative name."""
        return self.prefix + name

    def url(self, name: str = "") -> str:
        """``s3://bucket/prefix/name`` for messages."""
        return f"s3://{self.bucket}/{self.key(name)}"


@dataclass(frozen=True)
class LocalLocation:
    """A directory holding a layout (a Modal Volume mount, a CloudBucketMount, any path)."""

    root: Path
    """The directory; every name must stay inside it."""

    prefix = ""
    """Names are relative to :attr:`root` (S3 locations have a key prefix here)."""

    def path(self, name: str) -> Path:
        """The file for a layout-relative name, refusing names that escape :attr:`root`."""
        root = self.root.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise UnsafePathError(
                f"{name!r} resolves to {path}, outside the context root {root}; "
                "layouts may only name files inside their own directory"
            )
        return path

    def url(self, name: str = "") -> str:
        """The path of ``name`` for messages."""
        return str(self.root / name)


Location = S3Location | LocalLocation


def parse_location(url: str | os.PathLike[str]) -> Location:
    """Parse ``s3://bucket/prefix``, ``file:///path`` or a plain filesystem path."""
    if isinstance(url, os.PathLike):
        return LocalLocation(Path(url))
    if not isinstance(url, str) or not url:
        raise InvalidURLError(
            f"context URL must be a non-empty str like 's3://bucket/prefix/' or a directory path, "
            f"not {url!r}"
        )
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise InvalidURLError(f"{url!r} has no bucket; write it as 's3://bucket/prefix/'")
        prefix = prefix.strip("/")
        return S3Location(bucket, f"{prefix}/" if prefix else "")
    if url.startswith("file://"):
        return LocalLocation(Path(url[len("file://") :]))
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise InvalidURLError(
            f"unsupported URL scheme {scheme!r} in {url!r}; use 's3://bucket/prefix/' "
            "(with endpoint_url=... for S3-compatible stores) or a directory path"
        )
    return LocalLocation(Path(url))


def check_relative_name(name: str, *, what: str) -> str:
    """Return ``name`` if it is a plain relative object name, else raise :class:`UnsafePathError`."""
    if _PLAIN_NAME.fullmatch(name) and name not in (".", ".."):
        return name  # no separator at all: the common case (every manifest entry), checked fast
    pure = PurePosixPath(name)
    if (
        not name
        or pure.is_absolute()
        or ".." in pure.parts
        or name.endswith("/")
        or not pure.parts
        or pure.parts[-1] == "."
        or "\\" in name
        or "\x00" in name
    ):
        raise UnsafePathError(
            f"{what} names {name!r}: object names must be relative file names, without '..', "
            "a trailing '/', backslashes or NUL; rewrite the layout with contexts.write_layout(...)"
        )
    return name
