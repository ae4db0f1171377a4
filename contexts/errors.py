"""Named errors for every way a context can fail; each message says what to do next.

All inherit from :class:`ContextError`, so RLM code can catch one type. None of them ever carries a
credential value: messages name URLs, keys and options, never secrets.
"""

from __future__ import annotations


class ContextError(Exception):
    """Base class of every error raised by :mod:`contexts`."""


class ContextClosedError(ContextError):
    """The context was used after ``close()``."""


class InvalidURLError(ContextError, ValueError):
    """A context URL that is neither ``s3://bucket/prefix`` nor a filesystem path."""


class UnknownContextError(ContextError, LookupError):
    """``open_context`` was given a name that is not registered."""


class MissingDependencyError(ContextError, ImportError):
    """A context needs an optional extra that is not installed."""


class LayoutNotFoundError(ContextError, FileNotFoundError):
    """No layout (no ``manifest.json``, no single-object index) at the URL."""


class ManifestNotFoundError(LayoutNotFoundError):
    """The segments layout's ``manifest.json`` does not exist."""


class ManifestError(ContextError, ValueError):
    """``manifest.json`` exists but is not a valid, gap-free segment list."""


class IndexFormatError(ContextError, ValueError):
    """The single-object line index sidecar is unreadable or inconsistent."""


class IntegrityError(ContextError):
    """Fetched data disagrees with the manifest or the index (short, long or corrupt data)."""


class ObjectNotFoundError(ContextError, FileNotFoundError):
    """An object (segment, text object) named by the layout does not exist."""


class StorageError(ContextError):
    """The storage backend refused or failed a request."""


class BucketNotFoundError(StorageError):
    """The S3 bucket does not exist (or is in another account / endpoint)."""


class AccessDeniedError(StorageError, PermissionError):
    """The credentials in use may not read (or write) the object."""


class CredentialsError(StorageError):
    """No credentials were found for the S3 endpoint."""


class EndpointUnreachableError(StorageError, TimeoutError):
    """The endpoint refused the connection or did not answer within the deadline."""


class UnsafePathError(ContextError, ValueError):
    """A layout names a path that would escape the context's root directory or prefix."""


class MemoryLimitError(ContextError, MemoryError):
    """A context that loads everything into RAM is larger than its memory limit."""


class DeadlineExceededError(EndpointUnreachableError):
    """A read did not finish within its overall ``deadline_s`` (retries included)."""
