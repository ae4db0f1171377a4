"""The text that tells a model what the REPL's ``context`` is, for either view of a lab context.

Runtimes describe ``context`` as a ``str`` (or ``list[str]``). The line view (the default) is
neither, and treating it as one (a loop per line, ``context.text()`` on every turn) costs round
trips. The str view (:class:`contexts.char_view.StrView`) is for code written against a string:
``len`` in characters, character slices, the ``str`` methods; it still is not a ``str``.
"""

from __future__ import annotations

from typing import Literal

from contexts.base import Context
from contexts.char_view import StrView

View = Literal["lines", "str"]
"""Which view of the context the model's code gets: ``"lines"`` (the context itself) or
``"str"`` (characters as the unit)."""
VIEWS: tuple[View, ...] = ("lines", "str")

CONTEXT_PROMPT = """\
About `context` in this REPL: it is NOT a str and NOT a list. It is a line-addressed text \
stored remotely ({size}), and every read is a network round trip. What the runtime reports \
about the size or type of "your context" describes a placeholder; the calls below are the \
truth.
- `len(context)` is the number of LINES, not characters.
- `context[a:b]` is lines a..b-1 joined into one str (each line keeps its "\\n"); negative \
indices and steps work as for a list. `context[i]` is one line.
- `context.grep(pattern)` searches every line of the whole text with a regex and returns a \
list of `(line_number, line)` pairs, so `context[line_number]` is that line.
- `context.read_many([(a, b), (c, d), ...])` returns `[context[a:b], context[c:d], ...]`, \
fetched in one round trip.
- `context.text()` is the whole text: costly, all of it crosses the network. Do not call it \
unless you truly need every character at once.
Costs: a cold slice is one round trip whatever its size; re-reading lines you already read is \
cached by the fast contexts; a Python loop that reads one line at a time is thousands of round \
trips. So: chunk in big slices (thousands of lines each, e.g. `context[a:a + 5000]`), batch \
several ranges with `read_many`, find lines with `grep` instead of scanning, and run `re` over \
a slice string (`re.findall(p, context[a:b])`) rather than over the whole text."""
"""What the model is told about the line view; ``{size}`` is filled by :func:`context_prompt`."""

STR_CONTEXT_PROMPT = """\
About `context` in this REPL: it behaves like a str but is NOT one. It is a text stored \
remotely ({size}) and read on demand: reading a part not read before is a network round trip. \
What the runtime reports about the size or type of "your context" describes a placeholder; the \
calls below are the truth.
- `len(context)` is the number of characters. `context[a:b]` is characters a..b-1 as a real \
str (negative indices and steps work); `context[i]` is one character.
- `context.find(s)`, `rfind`, `index`, `count`, `startswith`, `endswith` and `s in context` \
work as for a str and read the text in large pieces.
- `re` cannot take `context` itself: use `context.re.findall(pattern)`, \
`context.re.finditer(pattern)` or `context.re.search(pattern)` (their offsets index \
`context`), or `re.findall(pattern, context[a:b])` on a slice.
- `str(context)`, `print(context)`, `context.split(...)`, `context.splitlines()` and every other \
str method read the whole text at once: costly. Do it once and keep the result, or slice first.
- `context.lines` is the same text addressed by line: `len(context.lines)` lines, \
`context.lines[a:b]` (lines a..b-1 joined), `context.lines.grep(pattern)` -> a list of \
`(line_number, line)`, `context.lines.read_many([(a, b), ...])` in one round trip.
Costs: a cold slice is one round trip whatever its size; a Python loop over single characters \
or small pieces is thousands of round trips. So: read in big slices (e.g. \
`context[a:a + 200_000]`), search with the methods above or `context.lines.grep` instead of \
scanning, and run `re` over a slice or through `context.re`."""
"""What the model is told about the str view; ``{size}`` is filled by :func:`context_prompt`."""


def context_prompt(size: int, *, view: View = "lines") -> str:
    """The prompt text for a context of ``size`` lines (line view) or characters (str view)."""
    if view not in VIEWS:
        raise ValueError(f"view must be 'lines' or 'str', not {view!r}")
    unit = "line" if view == "lines" else "character"
    if size < 0:
        raise ValueError(f"a context has at least 0 {unit}s, not {size}")
    amount = f"1 {unit}" if size == 1 else f"{size:,} {unit}s"
    return (CONTEXT_PROMPT if view == "lines" else STR_CONTEXT_PROMPT).format(size=amount)


def bind_view(ctx: Context | StrView, view: View | None) -> tuple[Context | StrView, View]:
    """The object the model's code gets as ``context`` and its view: ``ctx`` itself for the line
    view, a :class:`StrView` over it for ``"str"``; a ``StrView`` passed in is the str view
    (``view=None`` picks the view from ``ctx``)."""
    if view is not None and view not in VIEWS:
        raise ValueError(f"view must be 'lines' or 'str', not {view!r}")
    if isinstance(ctx, StrView):
        if view == "lines":
            return ctx.lines, "lines"
        return ctx, "str"
    if not isinstance(ctx, Context):
        raise TypeError(
            f"an RLM runtime needs a lab Context (or its StrView), not {type(ctx).__name__}; "
            "open one with contexts.open_context(name, url)"
        )
    return (StrView(ctx), "str") if view == "str" else (ctx, "lines")


def size_of(bound: Context | StrView, stated: int | None) -> int:
    """``stated`` if given, else the length of ``bound`` (lines, or characters for a view)."""
    return len(bound) if stated is None else stated
