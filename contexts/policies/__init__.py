"""Policies: wrappers that compose over any context — a byte-bounded block cache, sequential
read-ahead, and the recorder of an RLM session."""

from contexts.policies.cache import CachedContext
from contexts.policies.prefetch import PrefetchingContext
from contexts.policies.recording import RecordingContext

__all__ = ["CachedContext", "PrefetchingContext", "RecordingContext"]
