"""The corpus generator: exact line counts, determinism (pinned digest), the content mix, size."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.corpus import GENERATOR_VERSION, CorpusInfo, describe_corpus, generate_corpus

ROOT = Path(__file__).resolve().parents[2]

PINNED_LINES = 2000
PINNED_SHA256 = "7b0ff3b5339d685f608ce05c14593bc5eeb389e2837546ef3cae22bc71eaf1b1"
PINNED_VERSION = 1


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture(scope="module")
def mix() -> str:
    return generate_corpus(20_000, seed=0)


@pytest.fixture(scope="module")
def mix_lines(mix: str) -> list[str]:
    lines = mix.split("\n")
    assert lines[-1] == ""
    return lines[:-1]


# -- line count --------------------------------------------------------------------------------


@pytest.mark.parametrize("lines", [0, 1, 2, 7, 100, 1234, 10_000])
@pytest.mark.parametrize("seed", [0, 1])
def test_exact_line_count(lines: int, seed: int) -> None:
    text = generate_corpus(lines, seed=seed)
    assert text.count("\n") == lines
    if lines == 0:
        assert text == ""
    else:
        assert text.endswith("\n"), "the last line must be terminated"


def test_zero_lines_is_the_empty_string() -> None:
    assert generate_corpus(0) == ""
    assert generate_corpus(0, seed=123) == ""


@pytest.mark.parametrize("bad", [-1, -1000])
def test_negative_line_count_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="lines"):
        generate_corpus(bad)


@pytest.mark.parametrize("bad", [1.0, "10", None, True])
def test_non_int_arguments_are_rejected(bad: object) -> None:
    with pytest.raises(TypeError):
        generate_corpus(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        generate_corpus(10, seed=bad)  # type: ignore[arg-type]


# -- determinism -------------------------------------------------------------------------------


def test_same_arguments_give_the_same_text() -> None:
    assert generate_corpus(5_000, seed=7) == generate_corpus(5_000, seed=7)
    assert generate_corpus(5_000) == generate_corpus(5_000, seed=0)


def test_different_seeds_give_different_text() -> None:
    texts = {generate_corpus(1_000, seed=seed) for seed in (0, 1, 2, -1, 2**70)}
    assert len(texts) == 5, "every seed (negative and huge ones included) must give its own text"


def test_pinned_digest() -> None:
    text = generate_corpus(PINNED_LINES, seed=0)
    assert _sha256(text) == PINNED_SHA256, (
        "generate_corpus output changed. If this is intended, bump GENERATOR_VERSION in "
        "scenarios/corpus.py and update PINNED_SHA256 / PINNED_VERSION here; otherwise the "
        "generator lost its determinism (hash(), set order, an unstable RNG method, ...)."
    )
    assert GENERATOR_VERSION == PINNED_VERSION, (
        "GENERATOR_VERSION was bumped: update PINNED_SHA256 and PINNED_VERSION together."
    )


def test_same_digest_in_a_fresh_process_with_another_hash_seed() -> None:
    """Nothing may depend on str hashing (PYTHONHASHSEED), the locale or process state."""
    code = (
        "import hashlib; from scenarios.corpus import generate_corpus; "
        f"print(hashlib.sha256(generate_corpus({PINNED_LINES}).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "LC_ALL": "C", "TZ": "Pacific/Kiritimati"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == PINNED_SHA256


# -- content mix -------------------------------------------------------------------------------


def test_encodes_as_utf8(mix: str) -> None:
    mix.encode("utf-8")  # raises on a lone surrogate


def test_conversation_turns(mix_lines: list[str]) -> None:
    for prefix in ("USER: ", "ASSISTANT: ", "SYSTEM: ", "TOOL: "):
        assert any(line.startswith(prefix) for line in mix_lines), prefix
    users = sum(line.startswith("USER: ") for line in mix_lines)
    assistants = sum(line.startswith("ASSISTANT: ") for line in mix_lines)
    tools = sum(line.startswith("TOOL: ") for line in mix_lines)
    systems = sum(line.startswith("SYSTEM: ") for line in mix_lines)
    assert users > 100 and assistants > 100
    assert systems < users and systems < assistants, "SYSTEM turns are occasional"
    assert tools > 50


def test_code_fences(mix_lines: list[str]) -> None:
    assert "```python" in mix_lines
    assert "```" in mix_lines
    opening = sum(line.startswith("```") and line != "```" for line in mix_lines)
    closing = mix_lines.count("```")
    assert opening > 10 and closing >= opening * 0.9


def test_tracebacks(mix: str, mix_lines: list[str]) -> None:
    assert "Traceback (most recent call last):" in mix_lines
    assert re.search(r'^  File "[^"\n]+", line \d+, in \w+$', mix, re.MULTILINE)


def test_json_lines(mix_lines: list[str]) -> None:
    single = [line for line in mix_lines if line.startswith("{") and line.endswith("}")]
    parsed = [json.loads(line) for line in single[:50]]
    assert parsed and all(isinstance(obj, dict) for obj in parsed)
    # pretty-printed JSON: an opening brace alone on its line followed by an indented key
    assert any(
        a == "{" and re.match(r'^ {2,4}"\w+": ', b) for a, b in itertools.pairwise(mix_lines)
    )


def test_log_lines_with_levels_and_session_ids(mix_lines: list[str]) -> None:
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
    for level in ("INFO", "WARNING", "ERROR"):
        assert any(re.match(stamp + level, line) for line in mix_lines), level
    errors = [line for line in mix_lines if re.match(stamp + "ERROR", line)]
    assert all(re.search(r"session_id=[0-9a-f]{8}-[0-9a-f]{4}\b", line) for line in errors)


def test_very_long_lines(mix_lines: list[str]) -> None:
    sizes = [len(line.encode("utf-8")) for line in mix_lines]
    long = [size for size in sizes if size > 5_000]
    assert long, "expected at least one line > 5 KB"
    assert max(sizes) <= 60_000


def test_blank_lines_and_whitespace(mix: str, mix_lines: list[str]) -> None:
    assert "" in mix_lines
    assert "\n\n" in mix
    assert "\t" in mix


def test_windows_line_endings_and_carriage_returns(mix: str, mix_lines: list[str]) -> None:
    assert "\r\n" in mix
    assert any("\r" in line.rstrip("\r") for line in mix_lines), "expected a \\r inside a line"


def test_characters_that_are_not_line_breaks(mix: str, mix_lines: list[str]) -> None:
    assert "\u2028" in mix
    assert "\x0c" in mix
    # only "\n" ends a line: str.splitlines() sees more lines than the corpus has
    assert len(mix.splitlines()) > len(mix_lines)


def test_non_ascii(mix: str) -> None:
    assert not mix.isascii()
    assert re.search(r"[àâçéèêëîïôûùüÿñæœåäöø]", mix), "accented Latin"
    assert re.search(r"[\u0300-\u036f]", mix), "combining marks"
    assert re.search(r"[\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af]", mix), "CJK"
    assert re.search(r"[\U0001F300-\U0001FAFF]", mix), "emoji (astral plane)"
    assert re.search(r"[\u0600-\u06ff]", mix), "Arabic"
    assert re.search(r"[\u0590-\u05ff]", mix), "Hebrew"


def test_average_line_size() -> None:
    lines = 100_000
    text = generate_corpus(lines, seed=0)
    assert text.count("\n") == lines
    size = len(text.encode("utf-8"))
    assert 60 <= size / lines <= 160, f"{size / lines:.1f} bytes per line"


# -- describe_corpus ---------------------------------------------------------------------------


def test_describe_corpus() -> None:
    text = generate_corpus(300, seed=5)
    info = describe_corpus(text, lines=300, seed=5)
    assert info == CorpusInfo(
        lines=300,
        seed=5,
        bytes=len(text.encode("utf-8")),
        sha256=_sha256(text),
        generator_version=GENERATOR_VERSION,
    )
    assert info.bytes > len(text), "non-ASCII text is larger in UTF-8 than in code points"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.lines = 1  # type: ignore[misc]


def test_describe_empty_corpus() -> None:
    info = describe_corpus("", lines=0, seed=0)
    assert info.bytes == 0
    assert info.sha256 == hashlib.sha256(b"").hexdigest()


def test_describe_corpus_rejects_a_wrong_line_count() -> None:
    text = generate_corpus(10)
    with pytest.raises(ValueError, match="expected exactly 11"):
        describe_corpus(text, lines=11, seed=0)
    with pytest.raises(ValueError, match="unterminated"):
        describe_corpus(text + "tail", lines=10, seed=0)
