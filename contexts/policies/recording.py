"""Record a real RLM run: ``RecordingContext`` wraps any context, passes every call through and
logs it; :func:`trace_from_events` turns the log into a replayable :class:`~contexts.trace.Trace`
(the bench replays it: ``ctxlab replay``).

    from contexts import RecordingContext
    context = RecordingContext(contexts.open_context(...), "run.jsonl")
    ...  # the RLM's code uses `context`
    context.close()                                 # writes run.jsonl (and run.events.jsonl)

Every public call (``len``, ``ctx[i]``, ``ctx[a:b]``, ``read``, ``read_many``, ``grep``,
``text``, iteration) is one event: op, arguments, start/stop (``perf_counter_ns`` since the
wrapper opened) and the calling thread. Events are appended to ``<path stem>.events.jsonl`` as
they finish (a crash keeps them); the trace is written on :meth:`RecordingContext.save` and
``close()``. Converting events to ops:

* gaps between accesses longer than ``min_think_ms`` become ``think`` ops (the model's latency),
  stored as nominal milliseconds: the observed gap divided by ``think_scale``, the factor by
  which the recorded session thought faster than real (1 for a real RLM; 0.01 for a scripted
  model that sleeps 20 ms standing for a 2 s LLM call). Replaying at that scale (what
  ``ctxlab replay`` does by default) reproduces the observed gaps;
* reads from two or more threads that overlap in time become one ``batch`` (as
  ``llm_query_batched`` issues them); ``read_many`` is a ``batch`` by itself;
* approximations, because the trace format has no such fields: a strided slice ``ctx[a:b:s]``
  is recorded as the covering read ``ctx[a:b]`` (the same chunks are fetched while
  ``|s| <= chunk_lines``); ``grep`` keeps its flags as an inline ``(?aimsx)`` group but not
  ``max_hits``; an iteration abandoned after ``n`` lines is recorded as ``ctx[0:n]``.

The trace's header says what it was recorded on: ``{"recorded": true, "events": N, "lines":
len(inner), "bytes": UTF-8 size or null, "think_scale": ...}`` (see :func:`known_byte_count`).
"""

from __future__ import annotations

import json
import math
import operator
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, overload

from contexts.base import Context, GrepHit
from contexts.policies.wrapper import WrappedContext
from contexts.trace import Batch, Grep, Index, Iter, Len, Op, Read, Text, Think, Trace, op_to_json

DEFAULT_MIN_THINK_MS = 1.0
"""Gaps shorter than this (observed, not scaled) are the REPL's own overhead, not the model
thinking."""


@dataclass(frozen=True)
class Event:
    """One recorded call."""

    op: Op
    """What was called (``Len``, ``Read``, ``Index``, ``Batch``, ``Grep``, ``Text``, ``Iter``)."""
    start_ns: int
    """When the call started, ``perf_counter_ns`` since recording began."""
    stop_ns: int
    """When it returned (or raised)."""
    thread: int
    """``threading.get_ident()`` of the caller."""

    def to_json(self) -> dict[str, Any]:
        return {
            **op_to_json(self.op),
            "t0": self.start_ns,
            "t1": self.stop_ns,
            "thread": self.thread,
        }


def _as_read(op: Op) -> Read | None:
    """A single-range read op as ``Read`` (``ctx[i]`` is ``ctx[i:i+1]``); ``None`` otherwise."""
    if isinstance(op, Read):
        return op
    if isinstance(op, Index):
        return Read(op.i, op.i + 1 if op.i != -1 else None)
    return None


def trace_from_events(
    name: str,
    events: Iterable[Event],
    *,
    min_think_ms: float = DEFAULT_MIN_THINK_MS,
    think_scale: float = 1.0,
    lines: int | None = None,
    byte_count: int | None = None,
) -> Trace:
    """The ops of a recording: concurrent reads grouped into batches, gaps as think ops.

    A gap of at least ``min_think_ms`` observed milliseconds becomes ``Think(gap /
    think_scale)`` (nominal, rounded to 0.1 ms). ``lines`` and ``byte_count`` are the size of
    the recorded context, kept in the header with ``think_scale``.
    """
    _check_think_scale(think_scale)
    ordered = sorted(events, key=lambda event: (event.start_ns, event.stop_ns))
    groups: list[list[Event]] = []
    for event in ordered:
        group = groups[-1] if groups else None
        if (
            group is not None
            and _as_read(event.op) is not None
            and all(_as_read(member.op) is not None for member in group)
            and event.start_ns < max(member.stop_ns for member in group)
        ):
            group.append(event)
        else:
            groups.append([event])
    ops: list[Op] = []
    last_stop: int | None = None
    for group in groups:
        start = min(member.start_ns for member in group)
        if last_stop is not None and (gap_ms := (start - last_stop) / 1e6) >= min_think_ms:
            ops.append(Think(round(gap_ms / think_scale, 1)))
        if len({member.thread for member in group}) > 1:
            ops.append(Batch(tuple(_as_read(member.op) or Read(0, 0) for member in group)))
        else:
            ops.extend(member.op for member in group)
        stop = max(member.stop_ns for member in group)
        last_stop = stop if last_stop is None else max(last_stop, stop)
    params = {
        "recorded": True,
        "events": len(ordered),
        "lines": lines,
        "bytes": byte_count,
        "think_scale": think_scale,
    }
    return Trace(name, tuple(ops), params)


def _check_think_scale(think_scale: float) -> None:
    if not (math.isfinite(think_scale) and think_scale > 0):
        raise ValueError(
            f"think_scale must be a positive number (1.0 for a real RLM), not {think_scale!r}"
        )


def known_byte_count(context: Context) -> int | None:
    """The UTF-8 size of ``context``'s whole text when it is known without reading the text
    from storage, else ``None``.

    Exact where it is cheap: a text already in memory (``memory``, ``s3-ram``) is measured; a
    stored layout reports the sizes its metadata holds (the single object's line index, or the
    manifest's per-segment ``byte_count``; a manifest without them, as the seed's, gives
    ``None``); policy wrappers (caches, recorders) report their inner context's. Any other
    context gives ``None`` rather than an estimate from what happened to be read.
    """
    from contexts.memory import InMemoryContext

    while isinstance(context, WrappedContext):
        context = context.inner
    if not isinstance(context, InMemoryContext):
        from contexts.policies.ram import RamContext
        from contexts.stored import StoredContext, stored_bytes

        if isinstance(context, StoredContext):
            return stored_bytes(context)
        if not isinstance(context, RamContext):
            return None
    text = context.text()  # in memory: no storage request
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: the text has no UTF-8 form
        return None


_FLAG_LETTERS: tuple[tuple[int, str], ...] = (
    (re.ASCII, "a"),
    (re.IGNORECASE, "i"),
    (re.MULTILINE, "m"),
    (re.DOTALL, "s"),
    (re.VERBOSE, "x"),
)


def _grep_pattern(pattern: str | re.Pattern[str], flags: int) -> str:
    """The pattern with its flags inline, so a plain ``grep(pattern)`` replays it."""
    if isinstance(pattern, re.Pattern):
        flags |= pattern.flags & ~re.UNICODE
        pattern = pattern.pattern
    letters = "".join(letter for flag, letter in _FLAG_LETTERS if flags & flag)
    return f"(?{letters}){pattern}" if letters else pattern


class RecordingContext(WrappedContext):
    """Wraps ``inner``: the same answers and stats, every call logged (thread-safe).

    ``path`` (optional) is where :meth:`save` and :meth:`close` write the trace; the raw events
    go to ``<path stem>.events.jsonl`` as they happen. Closing the recorder closes ``inner``.
    ``think_scale`` is how much faster than real the session thinks (1.0: a real RLM; 0.01: a
    scripted model sleeping 20 ms for a 2 s LLM call); think ops are stored divided by it. The
    size of ``inner`` (:attr:`lines`, :attr:`byte_count`) is taken when the recorder opens.
    """

    name = "recording"

    def __init__(
        self,
        inner: Context,
        path: str | Path | None = None,
        *,
        trace_name: str = "recorded",
        min_think_ms: float = DEFAULT_MIN_THINK_MS,
        think_scale: float = 1.0,
    ) -> None:
        _check_think_scale(think_scale)
        super().__init__(inner)
        self.path = Path(path) if path is not None else None
        self.trace_name = trace_name
        self.min_think_ms = min_think_ms
        self.think_scale = think_scale
        self.lines = len(inner)
        """Lines of the recorded context."""
        self.byte_count = known_byte_count(inner)
        """Its UTF-8 size, when known (:func:`known_byte_count`)."""
        self._origin = time.perf_counter_ns()
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._log: TextIO | None = None
        if self.path is not None:
            self._log = self.events_path.open("w", encoding="utf-8")
            header = {
                "events": trace_name,
                "clock": "perf_counter_ns",
                "lines": self.lines,
                "bytes": self.byte_count,
                "think_scale": think_scale,
            }
            self._log.write(json.dumps(header) + "\n")

    @property
    def events_path(self) -> Path:
        """Where the raw events are logged (next to ``path``)."""
        if self.path is None:
            raise ValueError("this recording has no path; pass one to RecordingContext(ctx, path)")
        return self.path.with_name(self.path.name.removesuffix(".jsonl") + ".events.jsonl")

    @property
    def events(self) -> list[Event]:
        """Every call so far, in completion order."""
        with self._lock:
            return list(self._events)

    def trace(self) -> Trace:
        """The recording so far as a trace."""
        return trace_from_events(
            self.trace_name,
            self.events,
            min_think_ms=self.min_think_ms,
            think_scale=self.think_scale,
            lines=self.lines,
            byte_count=self.byte_count,
        )

    def save(self, path: str | Path | None = None) -> Trace:
        """Write the trace to ``path`` (default: the recorder's) and return it."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no path to save to; pass save(path) or RecordingContext(ctx, path)")
        trace = self.trace()
        trace.save(target)
        return trace

    # -- recording ----------------------------------------------------------------------------

    def _now(self) -> int:
        return time.perf_counter_ns() - self._origin

    def _record(self, op: Op, start_ns: int) -> None:
        event = Event(op, start_ns, self._now(), threading.get_ident())
        with self._lock:
            self._events.append(event)
            if self._log is not None and not self._log.closed:
                self._log.write(json.dumps(event.to_json()) + "\n")
                self._log.flush()

    # -- the Context interface: pass through, log -----------------------------------------------

    def __len__(self) -> int:
        self._check_open()
        start = self._now()
        try:
            return len(self.inner)
        finally:
            self._record(Len(), start)

    @overload
    def __getitem__(self, key: int) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> str: ...
    def __getitem__(self, key: int | slice) -> str:
        self._check_open()
        if isinstance(key, slice):
            op: Op = Read(key.start, key.stop)
        else:
            try:
                op = Index(operator.index(key))
            except TypeError:
                return self.inner[key]  # raises the inner context's TypeError
        start = self._now()
        try:
            return self.inner[key]
        finally:
            self._record(op, start)

    def read(self, start: int | None = None, stop: int | None = None) -> str:
        return self[start:stop]

    def read_many(self, ranges: Iterable[tuple[int | None, int | None]]) -> list[str]:
        self._check_open()
        wanted = list(ranges)
        start = self._now()
        try:
            return self.inner.read_many(wanted)
        finally:
            self._record(Batch(tuple(Read(a, b) for a, b in wanted)), start)

    def text(self) -> str:
        self._check_open()
        start = self._now()
        try:
            return self.inner.text()
        finally:
            self._record(Text(), start)

    def grep(
        self, pattern: str | re.Pattern[str], flags: int = 0, *, max_hits: int | None = None
    ) -> list[GrepHit]:
        self._check_open()
        start = self._now()
        try:
            return self.inner.grep(pattern, flags, max_hits=max_hits)
        finally:
            self._record(Grep(_grep_pattern(pattern, flags)), start)

    def __iter__(self) -> Iterator[str]:
        self._check_open()
        start, count, finished = self._now(), 0, False
        try:
            for line in self.inner:
                count += 1
                yield line
            finished = True
        finally:
            self._record(Iter() if finished else Read(0, count), start)

    def _describe(self) -> str:
        return f"of {self.inner!r}"

    def _close(self) -> None:
        try:
            if self.path is not None:
                self.save()
        finally:
            with self._lock:
                if self._log is not None:
                    self._log.close()
            super()._close()
