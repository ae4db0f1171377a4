"""The ``Context`` interface: a text addressed by line, with Python's slice semantics.

Subclasses implement two hooks — :meth:`Context._line_count` and :meth:`Context._read_ranges` — and
inherit everything else: indexing, slicing with negative indices and steps, chunked iteration,
``text()``, ``grep()``, batch reads, stats, ``close()`` and ``with``.
"""

from __future__ import annotations

import operator
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self, overload

from contexts.errors import ContextClosedError
from contexts.grep_filter import LineFilter, line_filter, matching_lines
from contexts.lines import NEWLINE, CharMap, split_lines
from contexts.stats import ContextStats, StatsRecorder

if TYPE_CHECKING:
    from contexts.char_view import StrView

LineRange = tuple[int, int]
"""A half-open range of line numbers ``(start, stop)``."""


class GrepHit(NamedTuple):
    """One line that matched :meth:`Context.grep`."""

    line_number: int
    """0-based line number, so ``ctx[hit.line_number] == hit.line``."""
    line: str
    """The matching line, with its ``"\\n"`` if it has one."""


class Context(ABC):
    """A read-only text addressed by line; thread-safe; the same answers as the in-memory oracle.

    ``len(ctx)`` is the number of lines, ``ctx[a:b]`` is ``"".join(lines[a:b])`` and ``ctx[i]`` is
    one line, exactly as for a Python list of lines.
    """

    name: str = "context"
    """The registry name of this context (a class default; a preset sets its own)."""

    chunk_lines: int = 10_000
    """Lines fetched per request batch by iteration, ``grep``, ``text`` and strided slices."""

    def __init__(self) -> None:
        self._recorder = StatsRecorder()
        self._closed = False
        self._close_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, **options: Any) -> Self:
        """Open the context stored at ``url`` (what ``contexts.open_context`` calls)."""
        return cls(url, **options)  # type: ignore[call-arg]  # stored contexts take the URL first

    # -- hooks for subclasses ------------------------------------------------------------------

    @abstractmethod
    def _line_count(self) -> int:
        """Number of lines (cheap: known once the context is open)."""

    @abstractmethod
    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        """The text of each range; every range satisfies ``0 <= start < stop <= len(self)``.

        Implementations fetch what all the ranges need together, so one call is one batch.
        """

    def _close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources (clients, threads); called once by :meth:`close`."""

    def _describe(self) -> str:
        """A short description for ``repr`` (never credentials)."""
        return ""

    # -- the sequence interface ----------------------------------------------------------------

    def __len__(self) -> int:
        self._check_open()
        return self._line_count()

    @overload
    def __getitem__(self, key: int) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> str: ...
    def __getitem__(self, key: int | slice) -> str:
        """``ctx[i]`` is one line; ``ctx[a:b:s]`` is the lines of that slice, joined."""
        if isinstance(key, slice):
            return self._slice(key)
        try:
            index = operator.index(key)
        except TypeError:
            raise TypeError(
                f"context indices must be integers or slices, not {type(key).__name__}; "
                "use ctx[i] for one line or ctx[a:b] for lines a..b-1"
            ) from None
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"line index {key} out of range for a context of {count} lines")
        return self._read_ranges([(index, index + 1)])[0]

    def __iter__(self) -> Iterator[str]:
        """Yield every line, fetching :attr:`chunk_lines` lines per request batch."""
        for _start, chunk in self._chunks():
            yield from split_lines(chunk)

    def read(self, start: int | None = None, stop: int | None = None) -> str:
        """Same as ``ctx[start:stop]``."""
        return self._slice(slice(start, stop))

    def read_many(self, ranges: Iterable[tuple[int | None, int | None]]) -> list[str]:
        """``[ctx[a:b] for a, b in ranges]``, fetched as one batch where the context can."""
        count = len(self)
        bounds = [slice(start, stop).indices(count)[:2] for start, stop in ranges]
        wanted = [(start, stop) for start, stop in bounds if start < stop]
        fetched = iter(self._read_ranges(wanted) if wanted else [])
        return [next(fetched) if start < stop else "" for start, stop in bounds]

    def text(self) -> str:
        """The whole text."""
        return "".join(chunk for _start, chunk in self._chunks())

    def grep(
        self, pattern: str | re.Pattern[str], flags: int = 0, *, max_hits: int | None = None
    ) -> list[GrepHit]:
        """Lines where ``re.search(pattern, line)`` matches, as ``(line_number, line)`` pairs.

        Each line is searched on its own (with its ``"\\n"``), so ``^`` and ``$`` anchor to the
        line. Stops after ``max_hits`` hits when given. A pattern holding literals searches only
        the lines holding one of them (:mod:`contexts.grep_filter`), with the same answer.
        """
        found = line_filter(pattern, flags)
        if found is not None:
            return self._grep_filtered(found, max_hits)
        regex = re.compile(pattern, flags)
        hits: list[GrepHit] = []
        for start, text in self._grep_texts():
            for number, line in enumerate(split_lines(text), start):
                if regex.search(line):
                    hits.append(GrepHit(number, line))
                    if max_hits is not None and len(hits) >= max_hits:
                        return hits
        return hits

    def _grep_texts(self) -> Iterator[tuple[int, str]]:
        """``(first_line, text)`` of whole lines covering the context in order, for
        :meth:`grep`: the chunks (a context holding its text in pieces gives those, uncopied)."""
        return self._chunks()

    def _grep_filtered(self, found: LineFilter, max_hits: int | None) -> list[GrepHit]:
        """:meth:`grep` of a pattern holding literals: in each text of :meth:`_grep_texts`,
        only the lines holding one are searched (:mod:`contexts.grep_filter`)."""
        hits: list[GrepHit] = []
        for first, text in self._grep_texts():
            number, counted = first, 0
            for start, line in matching_lines(text, found):
                number += text.count(NEWLINE, counted, start)
                counted = start
                hits.append(GrepHit(number, line))
                if max_hits is not None and len(hits) >= max_hits:
                    return hits
        return hits

    # -- life cycle ------------------------------------------------------------------------------

    def as_str(self) -> StrView:
        """This context seen as one ``str``: characters as the unit (:class:`StrView`)."""
        from contexts.char_view import StrView

        return StrView(self)

    def char_map(self) -> CharMap | None:
        """Character offsets at some line boundaries, as the stored layout records them (see
        :data:`contexts.lines.CharMap`); ``None`` when it records none. The str view
        (:class:`contexts.char_view.StrView`) reads by them; without them it scans once."""
        return None

    @property
    def stats(self) -> ContextStats:
        """Requests, bytes fetched, cache hits/misses and seconds spent waiting, so far."""
        return self._recorder.snapshot()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Release clients and threads. Idempotent; later reads raise ContextClosedError."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self._describe()}{state}>"

    # -- helpers -----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ContextClosedError(
                f"{type(self).__name__} is closed; open a new one with contexts.open_context(...)"
            )

    def _chunks(self, low: int = 0, high: int | None = None) -> Iterator[tuple[int, str]]:
        """``(first_line, text)`` for consecutive chunks of :attr:`chunk_lines` lines covering
        lines ``[low, high)`` (the whole context by default)."""
        stop_at = len(self) if high is None else high
        for start in range(low, stop_at, self.chunk_lines):
            stop = min(stop_at, start + self.chunk_lines)
            yield start, self._read_ranges([(start, stop)])[0]

    def _slice(self, key: slice) -> str:
        start, stop, step = key.indices(len(self))
        if step == 1:
            return self._read_ranges([(start, stop)])[0] if start < stop else ""
        wanted = range(start, stop, step)
        if not wanted:
            return ""
        low, high = min(wanted[0], wanted[-1]), max(wanted[0], wanted[-1]) + 1
        if abs(step) <= self.chunk_lines:
            # Dense enough: read whole chunks once and pick lines, rather than one range per line.
            # The wanted lines are exactly low + k*|step| below high, for either sign of step.
            stride = abs(step)
            picked: list[str] = []
            for first, chunk in self._chunks(low, high):
                picked.extend(split_lines(chunk)[(low - first) % stride :: stride])
            return "".join(reversed(picked) if step < 0 else picked)
        pieces: list[str] = []
        for first in range(0, len(wanted), self.chunk_lines):
            batch = wanted[first : first + self.chunk_lines]
            pieces.extend(self._read_ranges([(line, line + 1) for line in batch]))
        return "".join(pieces)
