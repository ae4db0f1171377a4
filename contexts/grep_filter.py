"""A grep without a search per line: the literal strings every match of a pattern must contain
find the only lines worth searching, with ``str.find`` over a whole text in memory.

``grep`` is defined line by line (``re.search(pattern, line)``, the line with its ``"\\n"``): on
1,000,000 lines that is a million searches and a million line strings, 0.4-1 s. An RLM's
patterns nearly always hold a literal: ``^### session \\d+ session_id=`` holds ``### session ``,
``timeout|retry`` holds ``timeout`` or ``retry``. A line without one cannot match, so only the
lines with one are searched, each by the same ``re.search`` on the same line: the answer is the
per-line answer by construction, and a pattern this module cannot read (case-insensitive, or
without a literal of ``MIN_LITERAL`` characters) is searched line by line as before.

The literals come from the pattern's parse tree (:mod:`re._parser`, CPython's own regex parser,
the one ``re.compile`` uses). Only parts every match must pass through are used: a run of
literal characters in sequence, a group, a repetition of at least one, and an alternation
(each branch then gives its own literals, and a line needs one of them).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from contexts.lines import NEWLINE, plain_literal


def _cpython_module(name: str) -> Any:
    """One of CPython's own regex modules, or ``None`` (another Python: grep line by line)."""
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - CPython 3.11+ has both
        return None


_sre_parse = _cpython_module("re._parser")
_sre = _cpython_module("re._constants")

MIN_LITERAL = 3
"""The shortest literal worth a ``str.find`` pass: shorter ones hold in too many lines."""


@dataclass(frozen=True)
class LineFilter:
    """The lines a grep can match: those holding one of ``literals`` (none holds ``"\\n"``);
    ``verify`` (``None``: every such line matches) decides each of them."""

    literals: tuple[str, ...]
    verify: re.Pattern[str] | None

    def matches(self, line: str) -> bool:
        """Whether ``line`` (which holds one of the literals) matches."""
        return self.verify is None or self.verify.search(line) is not None


def line_filter(pattern: str | re.Pattern[str], flags: int = 0) -> LineFilter | None:
    """A filter for ``grep(pattern, flags)``, or ``None`` when the pattern must be searched
    line by line. A pattern that does not compile raises ``re.error`` as ``grep`` does."""
    literal = plain_literal(pattern, flags)
    if literal is not None:
        return LineFilter((literal,), None)
    regex = re.compile(pattern, flags)
    literals = required_literals(regex)
    return None if literals is None else LineFilter(literals, regex)


def required_literals(regex: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings of ``MIN_LITERAL`` characters or more, no ``"\\n"``, one of which is in every
    string ``regex`` matches; ``None`` when the pattern does not show such a set (a
    case-insensitive or locale pattern never does)."""
    if _sre_parse is None or _sre is None or not isinstance(regex.pattern, str):
        return None
    if regex.flags & (re.IGNORECASE | re.LOCALE):
        return None
    try:
        tree = _sre_parse.parse(regex.pattern, regex.flags)
    except Exception:  # a change in CPython's internal parser: search line by line
        return None
    try:
        found = _required(list(tree))
    except (TypeError, ValueError):  # a node shape this reader does not know
        return None
    if found is None or min(map(len, found)) < MIN_LITERAL:
        return None
    return tuple(sorted(found))


def _required(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """For a sequence of parse nodes: the best set of literals one of which every match holds
    (the longest shortest literal), or ``None``."""
    options: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in [*items, (None, None)]:  # the sentinel ends the last run
        if op is _sre.LITERAL and av != ord(NEWLINE):
            run.append(chr(av))
            continue
        if run:
            options.append(frozenset(["".join(run)]))
            run = []
        inner = _node(op, av) if op is not None else None
        if inner is not None:
            options.append(inner)
    if not options:
        return None
    return max(options, key=lambda option: (min(map(len, option)), -len(option)))


def _node(op: Any, av: Any) -> frozenset[str] | None:
    """The literals one node guarantees in every match of it, or ``None``."""
    if op is _sre.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        if add_flags & (re.IGNORECASE | re.LOCALE):
            return None
        return _required(list(sub))
    if op is _sre.ATOMIC_GROUP:
        return _required(list(av))
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        low, _high, sub = av
        return _required(list(sub)) if low >= 1 else None
    if op is _sre.BRANCH:
        _unused, branches = av
        union: set[str] = set()
        for branch in branches:
            found = _required(list(branch))
            if found is None:
                return None
            union |= found
        return frozenset(union)
    return None


def lines_holding(text: str, literals: Iterable[str]) -> list[int]:
    """Where each line of ``text`` that holds one of ``literals`` (no ``"\\n"`` in them)
    starts, ascending, each once: one ``str.find`` pass per literal."""
    starts: set[int] = set()
    end = len(text)
    for literal in literals:
        at = text.find(literal)
        while at != -1:
            starts.add(text.rfind(NEWLINE, 0, at) + 1)
            following = text.find(NEWLINE, at) + 1  # the next line: one hit per line
            at = text.find(literal, following) if 0 < following < end else -1
    return sorted(starts)


def matching_lines(text: str, found: LineFilter) -> Iterator[tuple[int, str]]:
    """``(start, line)`` of each line of ``text`` (whole lines) that ``found`` matches, in
    order: only the lines holding one of its literals are searched."""
    for start in lines_holding(text, found.literals):
        line = text[start : text.find(NEWLINE, start) + 1 or len(text)]
        if found.matches(line):
            yield start, line


__all__ = [
    "MIN_LITERAL",
    "LineFilter",
    "line_filter",
    "lines_holding",
    "matching_lines",
    "required_literals",
]
