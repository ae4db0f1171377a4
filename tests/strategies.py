"""Hypothesis strategies for nasty texts and for every kind of key a caller can pass."""

from __future__ import annotations

from hypothesis import strategies as st

# Characters that break naive line handling: str.splitlines separators, CR/CRLF, multibyte
# UTF-8 of 2, 3 and 4 bytes (so segment and byte-range boundaries fall inside characters).
NASTY_CHARS = [
    "a",
    "Z",
    " ",
    "\t",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
    "é",
    "ß",
    "€",
    "中",
    "\U0001d11e",
    "\U0001f600",
    "\ufeff",
    "\x00",
]

line_bodies = st.text(
    alphabet=st.one_of(
        st.sampled_from(NASTY_CHARS),
        st.characters(exclude_categories=("Cs",), exclude_characters="\n"),
    ),
    max_size=12,
)


@st.composite
def nasty_texts(draw: st.DrawFn, max_lines: int = 40) -> str:
    """Texts of 0..max_lines lines with empty lines, CRLF, separators and multibyte characters."""
    bodies = draw(st.lists(line_bodies, max_size=max_lines))
    text = "".join(body + "\n" for body in bodies)
    if text and draw(st.booleans()):
        text = text[:-1]  # no trailing newline (may leave an unterminated last line)
    return text


def index_keys(length: int) -> st.SearchStrategy[int]:
    """Integer keys in range and a little outside it."""
    return st.integers(min_value=-length - 3, max_value=length + 3)


def slice_keys(length: int) -> st.SearchStrategy[slice]:
    """Slices with negative, clamped, empty and stepped bounds."""
    bound = st.none() | st.integers(min_value=-length - 5, max_value=length + 5)
    step = st.none() | st.integers(min_value=-4, max_value=4).filter(bool)
    return st.builds(slice, bound, bound, step)
