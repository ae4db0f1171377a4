"""The text that tells a model what the REPL's ``context`` is: a line-addressed lab context.

Runtimes describe ``context`` as a ``str`` (or ``list[str]``); a lab context is neither, and
treating it as one (a loop per line, ``context.text()`` on every turn) costs round trips.
"""

from __future__ import annotations

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
"""What the model is told about ``context``; ``{size}`` is filled by :func:`context_prompt`."""


def context_prompt(lines: int) -> str:
    """:data:`CONTEXT_PROMPT` for a context of ``lines`` lines."""
    if lines < 0:
        raise ValueError(f"a context has at least 0 lines, not {lines}")
    size = "1 line" if lines == 1 else f"{lines:,} lines"
    return CONTEXT_PROMPT.format(size=size)
