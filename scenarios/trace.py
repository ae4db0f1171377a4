"""The trace format: a list of ops an RLM issues against ``context``, with a content hash.

On disk a trace is JSON Lines: a header line ``{"trace": name, "params": {...}}`` followed by one
op per line, e.g. ``{"op": "read", "start": 0, "stop": 100}``. The version is a hash of the
canonical ops, so results of different traces are never compared by accident.

The header's ``params`` say what corpus the trace was made for: ``lines`` (a generator's size,
or the line count of the recorded context), ``bytes`` (its UTF-8 size, recordings only, ``null``
when the context could not tell) and ``think_scale`` (recordings only: how much faster than real
the recorded session thought; its ``think`` ops are nominal). Every field is optional, so older
files load. :func:`check_fits` says whether a fixed trace can be replayed on a corpus of a given
size.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Len:
    """``len(context)``."""


@dataclass(frozen=True)
class Read:
    """``context[start:stop]``."""

    start: int | None
    stop: int | None


@dataclass(frozen=True)
class Index:
    """``context[i]``."""

    i: int


@dataclass(frozen=True)
class Think:
    """The model thinking between calls (simulated LLM latency; no storage traffic)."""

    ms: float


@dataclass(frozen=True)
class Batch:
    """Reads issued concurrently from several threads: a runtime whose sub-calls read their own
    slices. (rlms's ``llm_query_batched`` does not: its REPL slices one chunk after another and
    only the sub-LLM calls overlap; the ``chunk-then-batch`` scenario models that.)"""

    reads: tuple[Read, ...]


@dataclass(frozen=True)
class Grep:
    """``context.grep(pattern)``."""

    pattern: str


@dataclass(frozen=True)
class Text:
    """``context.text()``: the whole text."""


@dataclass(frozen=True)
class Iter:
    """``for line in context``: chunked iteration over every line."""


Op = Len | Read | Index | Think | Batch | Grep | Text | Iter

_KINDS: dict[str, type[Any]] = {
    "len": Len,
    "read": Read,
    "index": Index,
    "think": Think,
    "batch": Batch,
    "grep": Grep,
    "text": Text,
    "iter": Iter,
}
_NAMES = {cls: name for name, cls in _KINDS.items()}


def op_to_json(op: Op) -> dict[str, Any]:
    """One op as a JSON object."""
    if isinstance(op, Batch):
        return {"op": "batch", "reads": [[read.start, read.stop] for read in op.reads]}
    return {"op": _NAMES[type(op)], **op.__dict__}


def op_from_json(raw: dict[str, Any]) -> Op:
    """Parse one op; raise ``ValueError`` naming the problem."""
    kind = raw.get("op")
    if kind not in _KINDS:
        raise ValueError(f"unknown op {kind!r}; expected one of {', '.join(_KINDS)}")
    fields = {key: value for key, value in raw.items() if key != "op"}
    if kind == "batch":
        return Batch(tuple(Read(start, stop) for start, stop in fields["reads"]))
    try:
        op: Op = _KINDS[kind](**fields)
    except TypeError as exc:
        raise ValueError(f"bad fields for op {kind!r}: {exc}") from None
    return op


@dataclass(frozen=True)
class Trace:
    """A named, parameterised sequence of ops."""

    name: str
    """Scenario (or recording) name."""
    ops: tuple[Op, ...]
    """What the RLM does, in order."""
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    """Generator parameters (lines, seed, ...), kept for the results JSON."""

    @property
    def version(self) -> str:
        """Hash of the canonical ops: equal versions mean identical access patterns."""
        canonical = json.dumps([op_to_json(op) for op in self.ops], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def corpus_lines(self) -> int | None:
        """Lines of the corpus the trace was made for (``params["lines"]``); ``None`` if unknown."""
        return _count_param(self.params, "lines")

    @property
    def corpus_bytes(self) -> int | None:
        """UTF-8 bytes of the corpus it was recorded on (``params["bytes"]``); ``None`` if
        unknown."""
        return _count_param(self.params, "bytes")

    @property
    def think_scale(self) -> float | None:
        """How much faster than real the recorded session thought (``params["think_scale"]``):
        replaying at this scale reproduces the recorded gaps. ``None`` when the trace does not
        say (generator traces, older recordings)."""
        value = self.params.get("think_scale")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) and value > 0 else None

    @property
    def think_ms(self) -> float:
        """Total think time in the trace."""
        return sum(op.ms for op in self.ops if isinstance(op, Think))

    def to_jsonl(self) -> str:
        """The trace as JSON Lines."""
        header = json.dumps({"trace": self.name, "version": self.version, "params": self.params})
        return "\n".join([header, *(json.dumps(op_to_json(op)) for op in self.ops)]) + "\n"

    @classmethod
    def from_jsonl(cls, text: str) -> Trace:
        """Parse :meth:`to_jsonl` output (blank lines ignored)."""
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        if not rows or "trace" not in rows[0]:
            raise ValueError('a trace file starts with a header line {"trace": name, ...}')
        header, body = rows[0], rows[1:]
        return cls(
            header["trace"], tuple(op_from_json(row) for row in body), header.get("params", {})
        )

    def save(self, path: str | Path) -> None:
        """Write the trace as JSON Lines."""
        Path(path).write_text(self.to_jsonl(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a JSON Lines trace file."""
        return cls.from_jsonl(Path(path).read_text(encoding="utf-8"))


def _count_param(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class TraceSizeError(ValueError):
    """A fixed trace reaches past the end of the corpus it is to be replayed on."""


def op_reach(op: Op) -> int:
    """The fewest lines a corpus needs for ``op`` to stay inside it: no slice bound that Python
    would clamp, no index that raises ``IndexError``. ``ctx[a:b]`` needs ``max(|a|, |b|)`` lines
    (``ctx[-100:]`` needs 100, ``ctx[5:]`` needs 5), ``ctx[i]`` needs ``i + 1`` (``ctx[-i]``:
    ``i``); ops without positions (``len``, ``grep``, ``text``, ``iter``, ``think``) need none."""
    if isinstance(op, Read):
        return max((abs(bound) for bound in (op.start, op.stop) if bound is not None), default=0)
    if isinstance(op, Index):
        return op.i + 1 if op.i >= 0 else -op.i
    if isinstance(op, Batch):
        return max((op_reach(read) for read in op.reads), default=0)
    return 0


def trace_reach(trace: Trace) -> int:
    """The fewest lines a corpus needs for every op of ``trace`` to stay inside it."""
    return max((op_reach(op) for op in trace.ops), default=0)


def check_fits(trace: Trace, lines: int) -> None:
    """Raise :class:`TraceSizeError` when fixed ``trace`` cannot be replayed faithfully on a
    corpus of ``lines`` lines.

    The rule: an op reaches past the end of a corpus when a bound of it lies outside it
    (:func:`op_reach`). On a corpus at least as large as the one the trace was made for
    (:attr:`Trace.corpus_lines`) such an op was past the end when recorded too (the RLM wrote
    ``ctx[0:10**9]``, or ``ctx[10**6]`` and got ``IndexError``) and clamps the same way: allowed.
    On a smaller corpus it would read less than the recording did (``""`` past the end), so it
    is an error; so is any op past the end when the trace does not say its size. Negative
    positions count from the end as in Python: ``ctx[-100:]`` fits any corpus of 100 lines or
    more and reads its last 100 lines.
    """
    made_for = trace.corpus_lines
    if made_for is not None and lines >= made_for:
        return
    past = [(number, op) for number, op in enumerate(trace.ops) if op_reach(op) > lines]
    if not past:
        return
    number, op = past[0]
    more = f" (and {len(past) - 1:,} more)" if len(past) > 1 else ""
    needed = trace_reach(trace)
    if made_for is None:
        made = "its header does not say what corpus size it was made for"
        fix = f"replay it on at least {needed:,} lines: --lines {needed}"
    else:
        size = f"{made_for:,} lines"
        if trace.corpus_bytes is not None:
            size += f", {trace.corpus_bytes:,} bytes"
        made = f"it was made for a corpus of {size}"
        fix = f"replay it on the size it was made for: --lines {made_for}"
    raise TraceSizeError(
        f"trace {trace.name!r} reaches past the end of a corpus of {lines:,} lines: "
        f"op #{number} {_describe(op, lines)}{more}; {made}; {fix}"
    )


def _describe(op: Op, lines: int) -> str:
    """An op as the RLM wrote it (``ctx[a:b]``, ``ctx[i]``); of a batch, its first read past
    ``lines``."""
    if isinstance(op, Read):
        start, stop = ("" if bound is None else str(bound) for bound in (op.start, op.stop))
        return f"ctx[{start}:{stop}]"
    if isinstance(op, Index):
        return f"ctx[{op.i}]"
    if isinstance(op, Batch):
        first = next(read for read in op.reads if op_reach(read) > lines)
        return f"{_describe(first, lines)} in a batch of {len(op.reads)} reads"
    return repr(op)
