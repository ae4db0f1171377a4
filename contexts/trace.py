"""The trace format: the calls an RLM makes on a ``Context`` (and its thinking between them), as
data, so a session can be recorded (:class:`~contexts.policies.recording.RecordingContext`) and
replayed (the bench's scenarios).

On disk a trace is JSON Lines: a header line ``{"trace": name, "params": {...}}`` followed by one
op per line, e.g. ``{"op": "read", "start": 0, "stop": 100}``. The version is a hash of the
canonical ops, so results of different traces are never compared by accident.

The header's ``params`` say what corpus the trace was made for: ``lines`` (a generator's size,
or the line count of the recorded context), ``bytes`` (its UTF-8 size, recordings only, ``null``
when the context could not tell) and ``think_scale`` (recordings only: how much faster than real
the recorded session thought; its ``think`` ops are nominal). Every field is optional, so older
files load. (``scenarios.trace.check_fits`` says whether a fixed trace can be replayed on a corpus
of a given size.)
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
