"""The ``ram`` policy (``s3-ram``): fetch the whole stored context in parallel, then slice in memory."""

from __future__ import annotations

from collections.abc import Sequence

from contexts.base import Context, LineRange
from contexts.errors import MemoryLimitError
from contexts.lines import CharMap
from contexts.memory import InMemoryContext
from contexts.stats import ContextStats
from contexts.stored import StoredContext, stored_bytes

RAM_LIMIT_BYTES = 2 * 1024**3
"""Default limit of ``s3-ram``: a larger stored context raises ``MemoryLimitError`` at open."""
LOAD_BATCH_LINES = 200_000
"""Lines per batch while loading (each batch is one parallel fetch of the source)."""


class RamContext(Context):
    """The seed's demo strategy: every segment (or the whole object) of ``source`` fetched at
    open, then every slice is a string slice. ``source`` is closed once loaded (or on failure).

    Opening costs about ``bytes / (connections x per-connection bandwidth)`` plus a latency;
    after that nothing touches the network. A context over ``max_bytes`` (UTF-8 bytes, from the
    manifest or index when they say, else counted while loading) raises ``MemoryLimitError``.
    """

    name = "ram"

    def __init__(self, source: StoredContext, *, max_bytes: int) -> None:
        super().__init__()
        self.url = source.url
        self.max_bytes = max_bytes
        with source:
            stored = stored_bytes(source)
            if stored is not None and stored > max_bytes:
                raise self._too_big(stored)
            self._memory = InMemoryContext(self._load(source))
            self._loaded = source.stats

    def _load(self, source: Context) -> str:
        """Fetch every line, in large parallel batches, stopping early past the limit."""
        pieces: list[str] = []
        loaded = 0
        for start in range(0, len(source), LOAD_BATCH_LINES):
            piece = source[start : start + LOAD_BATCH_LINES]
            loaded += len(piece.encode("utf-8"))
            if loaded > self.max_bytes:
                raise self._too_big(loaded, at_least=True)
            pieces.append(piece)
        return "".join(pieces)

    def _too_big(self, size: int, *, at_least: bool = False) -> MemoryLimitError:
        amount = f"{'at least ' if at_least else ''}{size:,} bytes"
        return MemoryLimitError(
            f"{self.url} holds {amount}, over this context's memory limit of "
            f"{self.max_bytes:,}; pass max_bytes=... to allow more, or use 's3-cached-prefetch', "
            "which keeps a bounded cache"
        )

    @property
    def stats(self) -> ContextStats:
        """What loading cost (requests, bytes, wait); slices afterwards cost nothing."""
        return self._loaded

    def _line_count(self) -> int:
        return len(self._memory)

    def char_map(self) -> CharMap:
        return self._memory.char_map()

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._check_open()
        return self._memory._read_ranges(ranges)

    def text(self) -> str:
        self._check_open()
        return self._memory.text()

    def _close(self) -> None:
        self._memory.close()

    def _describe(self) -> str:
        return f"{self.url} in RAM"
