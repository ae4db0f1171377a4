"""The bench's oracle: the corpus as a plain list of lines, answering ops with list operations.

It shares no code with ``contexts`` (not even the line splitter), so a bug in the ``Context``
base class cannot agree with itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


def iteration_digest(lines: Iterable[str]) -> tuple[int, int, str]:
    """``(line count, UTF-8 bytes, sha256)`` of an iteration; each line is length-prefixed, so
    lines split at the wrong place cannot hash alike."""
    digest, count, size = hashlib.sha256(), 0, 0
    for line in lines:
        data = line.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
        count, size = count + 1, size + len(data)
    return count, size, digest.hexdigest()


class LineListOracle:
    """Expected answers for every op kind, from ``list`` slicing of the lines."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[str] = _LINE.findall(text)

    def length(self) -> int:
        return len(self.lines)

    def read(self, start: int | None, stop: int | None) -> str:
        return "".join(self.lines[start:stop])

    def index(self, i: int) -> Any:
        try:
            return self.lines[i]
        except IndexError:
            return IndexError

    def grep(self, pattern: str) -> list[tuple[int, str]]:
        search = re.compile(pattern).search
        return [(number, line) for number, line in enumerate(self.lines) if search(line)]

    def iterate(self) -> tuple[int, int, str]:
        return iteration_digest(self.lines)
