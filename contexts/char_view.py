"""``StrView``: a context seen as one ``str`` (characters as the unit) for code written for a string.

RLM runtimes tell the model ``context`` is a ``str``, and models write ``len(context)``,
``context[:2000]``, ``context.count("ERROR")``, ``context.find(...)``, ``context.split("\\n")``.
On a line context those mean lines, or fail. ``StrView(ctx)`` answers them as the text would::

    view = StrView(ctx)
    len(view)                 # characters
    view[1000:3000]           # characters 1000..2999: one read of the lines that hold them
    view.count("ERROR"), view.find("needle"), "needle" in view     # streamed, pipelined
    view.startswith("#"), view[-500:].lower(), view.split("\\n")
    view.re.findall(r"id=(\\d+)")                                    # ``re`` over the text
    view.lines                # the line context itself (grep, read_many, stats)

How characters are found: the stored layout records the character offset of some line
boundaries (:meth:`Context.char_map`: the single layout at every index checkpoint, the segments
layout at every segment, in-memory contexts at every line). A character range maps to the lines
between the checkpoints around it, read with one line slice and cut; every read is checked
against the offsets (:class:`IntegrityError` if the text disagrees). A context whose layout
records no character offsets (written before they existed) is scanned once, in pipelined
batches, the first time a character position is needed (:attr:`StrView.char_offsets` says
which).

Methods that need the whole text at once (``split``, ``splitlines``, ``replace``, ``lower`` of
the whole, and every other ``str`` method not listed above, plus ``str(view)`` and ``re``)
materialise it with ``ctx.text()``; slice first where you can. ``re.findall(p, view)`` cannot
work (``re`` needs a real ``str``): use ``view.re.findall(p)``.
"""

from __future__ import annotations

import operator
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from typing import Any, SupportsIndex

from contexts.base import Context
from contexts.errors import IntegrityError
from contexts.lines import CharMap, line_starts

PIECE_CHARS = 1 << 20
"""Characters per piece when ``find``, ``count`` and iteration stream the text."""
PIPELINE_PIECES = 8
"""Pieces fetched together (one ``read_many``) while streaming."""
SCAN_STRIDE = 64
"""Lines between character checkpoints when the view has to scan a context to find them."""

Bounds = int | SupportsIndex | None


class StrView:
    """The text of ``context`` addressed by character, like a ``str``; see the module docstring.

    Thread-safe (the context is; the character map is built once, under a lock). ``len()`` is
    free once the map is known; closing the view closes nothing (close the context).
    """

    def __init__(
        self,
        context: Context,
        *,
        piece_chars: int = PIECE_CHARS,
        pipeline_pieces: int = PIPELINE_PIECES,
    ) -> None:
        if not isinstance(context, Context):
            raise TypeError(
                f"StrView needs a lab Context, not {type(context).__name__}; for a plain str "
                "use the str itself"
            )
        if piece_chars < 1 or pipeline_pieces < 1:
            raise ValueError(
                f"piece_chars and pipeline_pieces must be at least 1, not {piece_chars} and "
                f"{pipeline_pieces}"
            )
        self.lines = context
        """The line context the view reads through."""
        self.piece_chars = piece_chars
        """Characters per piece when streaming (``find``, ``count``, iteration)."""
        self.pipeline_pieces = pipeline_pieces
        """Pieces fetched with one ``read_many`` while streaming."""
        self._lock = threading.Lock()
        self._map: tuple[Sequence[int], Sequence[int]] | None = None
        self._source = ""

    # -- the character map ---------------------------------------------------------------------

    @property
    def char_offsets(self) -> str:
        """Where the character offsets came from: ``"layout"`` (recorded beside the text),
        ``"scan"`` (read once by this view) or ``""`` (not needed yet)."""
        return self._source

    def _checkpoints(self) -> tuple[Sequence[int], Sequence[int]]:
        if self._map is None:
            with self._lock:
                if self._map is None:
                    recorded = self.lines.char_map()
                    if recorded is not None:
                        self._map = _checked_map(recorded, len(self.lines))
                        self._source = "layout"
                    else:
                        self._map = _scan(self.lines)
                        self._source = "scan"
        return self._map

    def __len__(self) -> int:
        """Characters in the text."""
        return self._checkpoints()[1][-1]

    # -- reading -------------------------------------------------------------------------------

    def _block(self, start: int, stop: int) -> tuple[int, int]:
        """Indices ``(i, j)`` of the checkpoints around characters ``[start, stop)``."""
        chars = self._checkpoints()[1]
        return bisect_right(chars, start) - 1, bisect_left(chars, stop)

    def _read_many(self, spans: Sequence[tuple[int, int]]) -> list[str]:
        """The text of each character span ``[start, stop)`` (``0 <= start < stop <= len``),
        all fetched with one ``read_many`` of the lines that hold them."""
        lines, chars = self._checkpoints()
        blocks = [self._block(start, stop) for start, stop in spans]
        texts = self.lines.read_many([(lines[i], lines[j]) for i, j in blocks])
        pieces = []
        for (start, stop), (i, j), text in zip(spans, blocks, texts, strict=True):
            if len(text) != chars[j] - chars[i]:
                raise IntegrityError(
                    f"lines {lines[i]}-{lines[j] - 1} of {self.lines!r} hold {len(text)} "
                    f"characters where the character offsets say {chars[j] - chars[i]}: the "
                    "text changed after its layout was written; rewrite it with "
                    "contexts.write_layout(...)"
                )
            pieces.append(text[start - chars[i] : stop - chars[i]])
        return pieces

    def _read(self, start: int, stop: int) -> str:
        return self._read_many([(start, stop)])[0] if start < stop else ""

    def _pieces(self, start: int, stop: int, *, reverse: bool = False) -> Iterator[tuple[int, str]]:
        """``(offset, text)`` of consecutive pieces covering ``[start, stop)``, cut at the
        character checkpoints (no line is read twice), fetched :attr:`pipeline_pieces` at a
        time; from the end backwards with ``reverse``."""
        if start >= stop:
            return
        chars = self._checkpoints()[1]
        first, last = self._block(start, stop)
        cuts = [first]
        while cuts[-1] < last:
            cuts.append(
                min(last, max(cuts[-1] + 1, bisect_left(chars, chars[cuts[-1]] + self.piece_chars)))
            )
        spans = [(max(start, chars[i]), min(stop, chars[j])) for i, j in pairwise(cuts)]
        if reverse:
            spans.reverse()
        for at in range(0, len(spans), self.pipeline_pieces):
            batch = spans[at : at + self.pipeline_pieces]
            for (offset, _stop), text in zip(batch, self._read_many(batch), strict=True):
                yield offset, text

    def __getitem__(self, key: SupportsIndex | slice) -> str:
        """One character, or a slice of characters (any step), as for a ``str``."""
        size = len(self)
        if isinstance(key, slice):
            start, stop, step = key.indices(size)
            wanted = range(start, stop, step)
            if not wanted:
                return ""
            low, high = min(wanted[0], wanted[-1]), max(wanted[0], wanted[-1]) + 1
            text = self._read(low, high)
            return text if step == 1 else text[wanted[0] - low :: step]
        try:
            index = operator.index(key)
        except TypeError:
            raise TypeError(
                f"string indices must be integers or slices, not {type(key).__name__}"
            ) from None
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("string index out of range")
        return self._read(index, index + 1)

    def __iter__(self) -> Iterator[str]:
        """Every character, streamed piece by piece."""
        for _offset, text in self._pieces(0, len(self)):
            yield from text

    def __str__(self) -> str:
        """The whole text (``ctx.text()``): everything crosses the network once."""
        text = self.lines.text()
        if len(text) != len(self):
            raise IntegrityError(
                f"{self.lines!r} holds {len(text)} characters where its character offsets say "
                f"{len(self)}; rewrite it with contexts.write_layout(...)"
            )
        return text

    def __repr__(self) -> str:
        size = f"{len(self):,} characters" if self._map is not None else "characters"
        return f"<StrView: {size} of {self.lines!r}>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StrView):
            return other is self or (len(other) == len(self) and str(other) == str(self))
        if isinstance(other, str):
            return len(other) == len(self) and other == str(self)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a str, so it cannot hash like one

    def __add__(self, other: str) -> str:
        if not isinstance(other, str):
            return NotImplemented
        return str(self) + other

    def __radd__(self, other: str) -> str:
        if not isinstance(other, str):
            return NotImplemented
        return other + str(self)

    def __contains__(self, sub: object) -> bool:
        if not isinstance(sub, str):
            raise TypeError(
                f"'in <string>' requires string as left operand, not {type(sub).__name__}"
            )
        return self.find(sub) >= 0

    # -- searching, streamed -------------------------------------------------------------------

    def _bounds(self, sub: object, start: Bounds, end: Bounds) -> tuple[str, int, int]:
        """``sub`` checked and ``start``/``end`` adjusted as ``str`` methods do."""
        if not isinstance(sub, str):
            raise TypeError(f"must be str, not {type(sub).__name__}")
        return sub, *_adjust(start, end, len(self))

    def find(self, sub: str, start: Bounds = None, end: Bounds = None) -> int:
        """Lowest offset of ``sub`` in ``view[start:end]`` (as an offset of the whole), or -1."""
        sub, start, end = self._bounds(sub, start, end)
        if end - start < len(sub):
            return -1
        if not sub:
            return start
        keep = len(sub) - 1
        carry, base = "", start
        for offset, text in self._pieces(start, end):
            window = carry + text
            found = window.find(sub)
            if found >= 0:
                return base + found
            carry = window[max(0, len(window) - keep) :] if keep else ""
            base = offset + len(text) - len(carry)
        return -1

    def rfind(self, sub: str, start: Bounds = None, end: Bounds = None) -> int:
        """Highest offset of ``sub`` in ``view[start:end]``, or -1."""
        sub, start, end = self._bounds(sub, start, end)
        if end - start < len(sub):
            return -1
        if not sub:
            return end
        keep = len(sub) - 1
        carry = ""
        for offset, text in self._pieces(start, end, reverse=True):
            window = text + carry
            found = window.rfind(sub)
            if found >= 0:
                return offset + found
            carry = window[:keep]
        return -1

    def index(self, sub: str, start: Bounds = None, end: Bounds = None) -> int:
        """Like :meth:`find`, but raises ``ValueError`` when ``sub`` is absent."""
        found = self.find(sub, start, end)
        if found < 0:
            raise ValueError("substring not found")
        return found

    def rindex(self, sub: str, start: Bounds = None, end: Bounds = None) -> int:
        """Like :meth:`rfind`, but raises ``ValueError`` when ``sub`` is absent."""
        found = self.rfind(sub, start, end)
        if found < 0:
            raise ValueError("substring not found")
        return found

    def count(self, sub: str, start: Bounds = None, end: Bounds = None) -> int:
        """Non-overlapping occurrences of ``sub`` in ``view[start:end]``."""
        sub, start, end = self._bounds(sub, start, end)
        if end - start < len(sub):
            return 0
        if not sub:
            return end - start + 1
        total, carry = 0, ""
        for _offset, text in self._pieces(start, end):
            window = carry + text
            position = 0
            while (found := window.find(sub, position)) >= 0:
                total += 1
                position = found + len(sub)
            carry = window[max(position, len(window) - len(sub) + 1) :]
        return total

    def startswith(
        self, prefix: str | tuple[str, ...], start: Bounds = None, end: Bounds = None
    ) -> bool:
        """Whether ``view[start:end]`` starts with ``prefix`` (or one of a tuple of them)."""
        return self._tail_match(prefix, start, end, at_end=False)

    def endswith(
        self, suffix: str | tuple[str, ...], start: Bounds = None, end: Bounds = None
    ) -> bool:
        """Whether ``view[start:end]`` ends with ``suffix`` (or one of a tuple of them)."""
        return self._tail_match(suffix, start, end, at_end=True)

    def _tail_match(
        self, affix: str | tuple[str, ...], start: Bounds, end: Bounds, *, at_end: bool
    ) -> bool:
        method = "endswith" if at_end else "startswith"
        options = affix if isinstance(affix, tuple) else (affix,)
        if not all(isinstance(option, str) for option in options):
            raise TypeError(
                f"{method} first arg must be str or a tuple of str, not {type(affix).__name__}"
            )
        low, high = _adjust(start, end, len(self))
        for option in options:
            last = high - len(option)
            if last < low:
                continue
            if not option:
                return True
            at = last if at_end else low
            if self._read(at, at + len(option)) == option:
                return True
        return False

    # -- whole-text methods --------------------------------------------------------------------

    def split(self, sep: str | None = None, maxsplit: SupportsIndex = -1) -> list[str]:
        """``str(view).split(sep, maxsplit)`` (reads the whole text)."""
        return str(self).split(sep, maxsplit)

    def splitlines(self, keepends: bool = False) -> list[str]:
        """``str(view).splitlines(keepends)`` (reads the whole text; note ``str.splitlines``
        also splits at ``\\r``, ``\\u2028`` and others, unlike the line view)."""
        return str(self).splitlines(keepends)

    def lower(self) -> str:
        """The whole text in lower case; ``view[a:b].lower()`` for a part."""
        return str(self).lower()

    def upper(self) -> str:
        """The whole text in upper case; ``view[a:b].upper()`` for a part."""
        return str(self).upper()

    @property
    def re(self) -> Regex:
        """``re`` over the text: ``view.re.findall(pattern)``, ``.finditer``, ``.search``, ..."""
        return Regex(self)

    def __getattr__(self, name: str) -> Any:
        """Any other public ``str`` method, applied to the whole text (reads all of it)."""
        if name.startswith("_") or not hasattr(str, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        method: Callable[..., Any] = getattr(str, name)
        return lambda *args, **kwargs: method(str(self), *args, **kwargs)


class Regex:
    """``re``'s functions bound to a view's text, with offsets that are the view's offsets."""

    def __init__(self, view: StrView) -> None:
        self._view = view

    def findall(self, pattern: str | re.Pattern[str], flags: int = 0) -> list[Any]:
        """``re.findall(pattern, str(view), flags)``."""
        return re.findall(pattern, str(self._view), flags)

    def finditer(self, pattern: str | re.Pattern[str], flags: int = 0) -> Iterator[re.Match[str]]:
        """``re.finditer(pattern, str(view), flags)``: match offsets index the view."""
        return re.finditer(pattern, str(self._view), flags)

    def search(self, pattern: str | re.Pattern[str], flags: int = 0) -> re.Match[str] | None:
        """``re.search(pattern, str(view), flags)``."""
        return re.search(pattern, str(self._view), flags)

    def match(self, pattern: str | re.Pattern[str], flags: int = 0) -> re.Match[str] | None:
        """``re.match(pattern, str(view), flags)``."""
        return re.match(pattern, str(self._view), flags)

    def fullmatch(self, pattern: str | re.Pattern[str], flags: int = 0) -> re.Match[str] | None:
        """``re.fullmatch(pattern, str(view), flags)``."""
        return re.fullmatch(pattern, str(self._view), flags)

    def split(self, pattern: str | re.Pattern[str], maxsplit: int = 0, flags: int = 0) -> list[Any]:
        """``re.split(pattern, str(view), maxsplit, flags)``."""
        return re.split(pattern, str(self._view), maxsplit=maxsplit, flags=flags)

    def sub(self, pattern: str | re.Pattern[str], repl: Any, count: int = 0, flags: int = 0) -> str:
        """``re.sub(pattern, repl, str(view), count, flags)``."""
        return re.sub(pattern, repl, str(self._view), count=count, flags=flags)


def _adjust(start: Bounds, end: Bounds, size: int) -> tuple[int, int]:
    """``start`` and ``end`` as ``str.find`` and friends adjust them (``end`` clamped to the
    size, negatives counted from the end and clamped at 0; ``start`` may exceed the size)."""
    low = 0 if start is None else operator.index(start)
    high = size if end is None else operator.index(end)
    if high > size:
        high = size
    elif high < 0:
        high = max(0, high + size)
    if low < 0:
        low = max(0, low + size)
    return low, high


def _checked_map(recorded: CharMap, line_count: int) -> tuple[Sequence[int], Sequence[int]]:
    """A layout's character map, refused unless it runs from line 0 to the last line (its order
    is checked by the layout's parser; every read checks its length against it)."""
    lines, chars = recorded
    if (
        len(lines) != len(chars)
        or not lines
        or lines[0] != 0
        or chars[0] != 0
        or (lines[-1] != line_count)
    ):
        raise IntegrityError(
            f"the character offsets of a {line_count}-line context do not span its lines; "
            "rewrite it with contexts.write_layout(...)"
        )
    return lines, chars


def _scan(context: Context) -> tuple[Sequence[int], Sequence[int]]:
    """Character offsets every :data:`SCAN_STRIDE` lines, read from the text itself."""
    total = len(context)
    step = context.chunk_lines
    lines, chars = [0], [0]
    ranges = [(start, min(total, start + step)) for start in range(0, total, step)]
    for at in range(0, len(ranges), PIPELINE_PIECES):
        batch = ranges[at : at + PIPELINE_PIECES]
        for (start, stop), text in zip(batch, context.read_many(batch), strict=True):
            starts = line_starts(text)
            base = chars[-1]
            for line in range(SCAN_STRIDE, stop - start, SCAN_STRIDE):
                lines.append(start + line)
                chars.append(base + starts[line])
            lines.append(stop)
            chars.append(base + len(text))
    return lines, chars
