"""Fitting traces to corpora: how far a trace reaches, and whether it can be replayed on a
corpus of a given size. The format itself (ops, :class:`Trace`, JSON Lines) is
:mod:`contexts.trace`, re-exported here for the scenario library and the bench.
"""

from __future__ import annotations

from contexts.trace import (
    Batch,
    Grep,
    Index,
    Iter,
    Len,
    Op,
    Read,
    Text,
    Think,
    Trace,
    op_from_json,
    op_to_json,
)


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


__all__ = [
    "Batch",
    "Grep",
    "Index",
    "Iter",
    "Len",
    "Op",
    "Read",
    "Text",
    "Think",
    "Trace",
    "TraceSizeError",
    "check_fits",
    "op_from_json",
    "op_reach",
    "op_to_json",
    "trace_reach",
]
