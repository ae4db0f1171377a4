"""Policies: wrappers that compose over any context (cache; prefetch and preload to come)."""

from contexts.policies.cache import CachedContext
from contexts.policies.prefetch import PrefetchingContext

__all__ = ["CachedContext", "PrefetchingContext"]
