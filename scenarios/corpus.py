"""A deterministic generator of realistic RLM contexts: coding-agent and chat transcripts.

An RLM context is a huge text that a model explores by line. `generate_corpus(lines, seed)` returns
exactly `lines` lines (a line is text up to and including "\\n"; only "\\n" ends a line) and the same
string, byte for byte, for the same `(lines, seed)` on any machine and any Python 3.11+.

The text is a run of conversation sessions: `USER:` / `ASSISTANT:` turns (`SYSTEM:` and `TOOL:`
now and then), several lines each, with fenced code blocks, Python tracebacks, single-line and
pretty-printed JSON tool results, timestamped log lines, shell output, `cat -n` style file views,
blank lines and, rarely, very long lines (5-50 KB of minified JSON or base64). It is deliberately
hostile to naive line handling: non-ASCII text (accents, combining marks, CJK, emoji with ZWJ
sequences, RTL Arabic and Hebrew), tabs, Windows-pasted lines ending in "\\r" before their
"\\n", progress bars with "\\r" inside a line, and characters that `str.splitlines()` treats as
breaks but this project does not ("\\u2028", "\\u2029", "\\x0c", "\\x0b", "\\x1e", "\\x85").
The average line is about 100 bytes of UTF-8, so one million lines is about 100 MB.

Grep-friendly markers occur naturally (every `ERROR` log line carries the session's
`session_id=...`, session headers carry it too); no single special needle is planted here.

How it stays fast: every pool of lines (prose, code, frames, JSON, log messages) is built once
per process from a fixed seed, and the per-corpus RNG only picks from the pools and fills in a few
ids, numbers and timestamps; the lines are joined once at the end.

How it stays deterministic: the RNGs are seeded from strings (SHA-512 based and version-stable
in CPython 3.2+), only `Random.random()` and `Random.getrandbits()` are called, pools are tuples
built in a fixed order, and nothing depends on `hash()`, set order, the locale or the clock.
Bump `GENERATOR_VERSION` whenever the output changes.
"""

# Non-ASCII look-alikes (fullwidth punctuation, Greek letters) are the point of this module.
# ruff: noqa: RUF001

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

__all__ = ["GENERATOR_VERSION", "CorpusInfo", "describe_corpus", "generate_corpus"]

GENERATOR_VERSION: int = 1
"""Version of the generated text; bump it whenever `generate_corpus` output changes."""

_T = TypeVar("_T")

_POOL_SEED = "rlm-context-lab/corpus/pools/v1"
_CORPUS_SEED = "rlm-context-lab/corpus/v1/"

# --------------------------------------------------------------------------------------------
# Vocabulary. Everything below is plain data; order matters (it feeds the seeded picks).
# --------------------------------------------------------------------------------------------

_WORDS_TEXT = (
    "the a an this that it we you they is was will should could must not and or but if then "
    "when while because so also just only still already again maybe probably actually here there "
    "function method class module package import return value values list dict tuple string "
    "bytes buffer line lines offset offsets index range slice chunk chunks block blocks page "
    "cache key keys bucket object objects request requests response header headers body stream "
    "client server worker thread threads process timeout retry retries error errors exception "
    "test tests fixture assert check checks config setting flag option argument parameter "
    "file files path directory repo branch commit diff patch build run runs fails passes works "
    "read write open close seek parse encode decode split join count find search grep match "
    "first last next previous start end size length total number small large huge empty missing "
    "new old same different correct wrong broken slow fast async sync local remote upload "
    "download S3 HTTP JSON UTF-8 newline newlines context contexts model prompt token tokens "
    "session sessions turn turns user assistant tool output input log logs trace stack frame "
    "memory latency bandwidth throughput benchmark baseline regression edge case corner fix "
    "update change rename refactor remove add handle ignore skip keep use call calls returns"
)
_WORDS = tuple(_WORDS_TEXT.split())

_NOUNS = (
    "line index",
    "offset table",
    "range request",
    "retry loop",
    "cache key",
    "connection pool",
    "manifest",
    "chunk boundary",
    "UTF-8 decoder",
    "newline handling",
    "upload path",
    "multipart upload",
    "test fixture",
    "session state",
    "tool output",
    "prompt template",
    "token budget",
    "error message",
    "config loader",
    "CLI parser",
)

_FUNCS = (
    "read_lines",
    "get_range",
    "build_index",
    "load_manifest",
    "slice_context",
    "count_lines",
    "iter_chunks",
    "upload_part",
    "resolve_offset",
    "parse_args",
    "fetch_object",
    "decode_utf8",
    "find_line_start",
    "merge_ranges",
    "run_scenario",
    "open_context",
    "write_index",
    "compact_history",
    "render_report",
    "call_tool",
    "summarize_turns",
    "grep_context",
    "stream_body",
    "validate_profile",
)

_MODULES = (
    "contexts/reader.py",
    "contexts/writer.py",
    "contexts/index.py",
    "bench/runner.py",
    "bench/report.py",
    "scenarios/grep.py",
    "agent/loop.py",
    "agent/tools.py",
    "agent/memory.py",
    "server/app.py",
    "server/storage.py",
    "utils/text.py",
    "cli.py",
    "tests/test_reader.py",
    "tests/test_index.py",
)

_CMDS = (
    "pytest -x -q",
    "pytest tests/test_reader.py -k range",
    "ruff check .",
    "mypy --strict contexts",
    "git status --short",
    "git diff HEAD~1",
    "make bench",
    "aws s3 ls s3://contexts-dev/",
    "python -m bench.cli run --quick",
    "wc -l context.txt",
    "grep -n 'session_id=' transcript.log",
    "pip install -e '.[test]'",
    "docker compose up -d minio",
)

_TESTS = (
    "test_read_last_line",
    "test_range_crosses_chunk",
    "test_empty_context",
    "test_crlf_is_one_line",
    "test_unicode_line_separator",
    "test_index_roundtrip",
    "test_concurrent_reads",
    "test_retry_on_slowdown",
    "test_huge_line",
    "test_manifest_version",
)

_EXCEPTIONS = (
    "KeyError: 'session_id'",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "IndexError: list index out of range",
    "TypeError: 'NoneType' object is not subscriptable",
    "AttributeError: 'Response' object has no attribute 'iter_lines'",
    "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe2 in position 4095: "
    "unexpected end of data",
    "FileNotFoundError: [Errno 2] No such file or directory: 'données/entrée.csv'",
    "botocore.exceptions.ClientError: An error occurred (NoSuchKey) when calling the GetObject "
    "operation: The specified key does not exist.",
    "botocore.exceptions.ClientError: An error occurred (InvalidRange) when calling the GetObject "
    "operation: The requested range is not satisfiable",
    "AssertionError: assert 1048575 == 1048576",
    "TimeoutError: timed out after 30.0s",
    "RecursionError: maximum recursion depth exceeded while calling a Python object",
    "json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 8193 (char 8192)",
    "ConnectionResetError: [Errno 104] Connection reset by peer",
    "RuntimeError: index is stale: manifest generation 7 != 8",
    "OSError: [Errno 28] No space left on device",
)

_EXCEPTION_NAMES = tuple(e.split(":", 1)[0].rsplit(".", 1)[-1] for e in _EXCEPTIONS)

_ACCENTED = (
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "São Paulo",
    "façade",
    "coördinate",
    "Ångström",
    "jalapeño",
    "crème brûlée",
    "Dvořák",
    "Łódź",
    "Straße",
    "Reykjavík",
    "Kraków",
    "déjà vu",
    "piñata",
    "smörgåsbord",
)

_COMBINING = (
    "cafe\u0301",
    "man\u0303ana",
    "Zu\u0308rich",
    "a\u030aring",
    "Z\u0335a\u0335l\u0335g\u0335o\u0335",
    "q\u0323\u0307",
    "n\u0303o\u0308",
    "e\u0300\u0301\u0302",
)

_CJK = (
    "你好，世界",
    "这个函数返回一个列表",
    "文件未找到，请检查路径",
    "日本語のテキスト",
    "ファイルが見つかりません",
    "テストは成功しました",
    "한국어 문장입니다",
    "서버에 연결할 수 없습니다",
    "中文字符测试：第一行",
    "上下文窗口已满",
)

_EMOJI = (
    "🚀",
    "✅",
    "❌",
    "🔥",
    "👍🏽",
    "👨\u200d👩\u200d👧\u200d👦",
    "🇯🇵",
    "🤖",
    "⚠️",
    "🐍",
    "🏳️\u200d🌈",
    "🧪",
    "📦",
)

_RTL = (
    "مرحبا بالعالم",
    "هذا نص عربي للاختبار",
    "لم يتم العثور على الملف",
    "שלום עולם",
    "זה טקסט בעברית",
    "הקובץ לא נמצא",
    "the label ‏(קובץ)‏ is mirrored",
    "\u202bنص من اليمين إلى اليسار\u202c",
)

_OTHER_SCRIPTS = (
    "Привет, мир",
    "Ошибка чтения файла",
    "Καλημέρα κόσμε",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "Xin chào thế giới",
    "Γειά σου",
)

_NON_ASCII_GROUPS = (_ACCENTED, _COMBINING, _CJK, _EMOJI, _RTL, _OTHER_SCRIPTS)

# Characters that str.splitlines() breaks on but that are NOT line breaks here.
_FAKE_BREAKS = ("\u2028", "\u2028", "\u2028", "\x0c", "\x0c", "\u2029", "\x0b", "\x1e", "\x85")

_SENTENCES = (
    "Can you look at {path} and tell me why {func}() returns None for the last {noun}?",
    "I ran `{cmd}` and it exited with status {n}.",
    "The test {test} fails intermittently on CI with {exc}.",
    "Let me check the {noun} in {path} first.",
    "Here is the updated version of {func} that handles the empty {noun} case.",
    "This should fix the {noun} issue; the root cause was a missing check in {func}().",
    "I think the problem is that {func}() counts bytes, not characters, so offsets drift after "
    "the first multi-byte character.",
    "Running `{cmd}` now.",
    "All {n} tests pass locally, but the {noun} is still slow on large inputs.",
    "Could you also make {func}() accept a negative start, like Python slices do?",
    "The {noun} was built from an older manifest, so line {n} points into the middle of a record.",
    "I'll add a regression test named {test} so this does not come back.",
    "Done. I changed {path} and {path2}; nothing else needed to move.",
    "Please don't touch {path2}, another change is in flight there.",
    "Note that S3 range requests are inclusive on both ends, so bytes=0-{n} returns {n1} bytes.",
    "Summary so far: the {noun} works, the {noun2} still needs a retry on SlowDown.",
    "Why does {func}() read the whole object when we only need {n} lines?",
    "Good catch, I misread the traceback; the failure is in {func}(), not in {func2}().",
    "The benchmark shows p50 {n} ms and p99 {n2} ms for the {noun}.",
    "I reverted the change to {path} because it broke {test}.",
)

_I18N_SENTENCES = (
    "The error message in the translated build is: {phrase}",
    "The user's file is called {phrase}.txt and it fails to load.",
    "{phrase} Tests pass now.",
    "Customer quote: “{phrase}”",
    "The label reads «{phrase}» in the localized UI.",
    "Renamed the fixture to {phrase} as requested.",
    "Grep for '{phrase}' finds {n} matches.",
    "Status: {phrase}",
)

_ROUTES = (
    "/v1/contexts/{id}/lines",
    "/v1/contexts/{id}/manifest",
    "/v1/sessions/{id}/turns",
    "/healthz",
    "/v1/contexts/{id}/grep",
    "/v1/uploads/{id}/parts",
)

_LOGGERS = (
    "http.server",
    "agent.loop",
    "agent.tools",
    "contexts.reader",
    "contexts.index",
    "storage.s3",
    "bench.runner",
    "scheduler",
)

_TOOL_NAMES = (
    "bash",
    "read_file",
    "write_file",
    "grep",
    "list_dir",
    "run_tests",
    "http_get",
    "s3_get_object",
    "search_docs",
    "python",
)

_MODELS = ("claude-sonnet", "gpt-4o", "llama-3-70b", "qwen2.5-coder", "mistral-large")

_SYSTEM_OPENERS = (
    "You are a coding agent working in the repository {repo}. Use tools to inspect files.",
    "You are a helpful assistant. Answer concisely and cite line numbers when quoting files.",
    "Context window compacted: {n} earlier turns were summarised into {n2} lines.",
    "Reminder: the working tree has uncommitted changes in {path}.",
    "Tool results longer than 30000 characters are truncated.",
    "The user's locale is {locale}; reply in English unless asked otherwise.",
)

_REPOS = ("rlm-context-lab", "acme/billing-api", "data-pipeline", "infra/terraform", "webapp")

_LOCALES = ("fr_FR.UTF-8", "ja_JP.UTF-8", "ar_EG.UTF-8", "he_IL.UTF-8", "pt_BR.UTF-8", "C.UTF-8")


# --------------------------------------------------------------------------------------------
# Pools: built once per process from a fixed seed, shared by every corpus.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pools:
    prose: tuple[str, ...]
    python: tuple[tuple[str, ...], ...]
    go: tuple[tuple[str, ...], ...]
    shell: tuple[tuple[str, ...], ...]
    frames: tuple[tuple[str, str, str], ...]
    json_lines: tuple[str, ...]
    json_pretty: tuple[tuple[str, ...], ...]
    json_records: tuple[str, ...]
    log_messages: tuple[str, ...]
    non_ascii: tuple[str, ...]


class _Picker:
    """Seeded picks using only `Random.random()` (stable across Python versions)."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng.random

    def pick(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.r() * len(seq))]

    def between(self, low: int, high: int) -> int:
        """Uniform in [low, high]."""
        return low + int(self.r() * (high - low + 1))


def _phrase(p: _Picker) -> str:
    return p.pick(p.pick(_NON_ASCII_GROUPS))


def _fill(template: str, p: _Picker) -> str:
    n = p.between(2, 4096)
    return template.format(
        path=p.pick(_MODULES),
        path2=p.pick(_MODULES),
        func=p.pick(_FUNCS),
        func2=p.pick(_FUNCS),
        cmd=p.pick(_CMDS),
        test=p.pick(_TESTS),
        exc=p.pick(_EXCEPTION_NAMES),
        noun=p.pick(_NOUNS),
        noun2=p.pick(_NOUNS),
        n=n,
        n1=n + 1,
        n2=n * p.between(2, 9),
        phrase=_phrase(p),
        repo=p.pick(_REPOS),
        locale=p.pick(_LOCALES),
    )


def _word_sentence(p: _Picker) -> str:
    words = [p.pick(_WORDS) for _ in range(p.between(5, 14))]
    text = " ".join(words)
    return text[0].upper() + text[1:] + p.pick((".", ".", ".", "?", "!", ":"))


def _sentence(p: _Picker) -> str:
    x = p.r()
    if x < 0.55:
        return _fill(p.pick(_SENTENCES), p)
    if x < 0.67:
        return _fill(p.pick(_I18N_SENTENCES), p)
    return _word_sentence(p)


def _prose_fragment(p: _Picker) -> str:
    """One to a few sentences; a prose line joins one to three fragments at generation time."""
    parts = [_sentence(p)]
    target = p.between(20, 120)
    while sum(len(s) + 1 for s in parts) < target:
        parts.append(_sentence(p))
    x = p.r()
    if x < 0.03 and len(parts) > 1:  # a splitlines() trap between two sentences
        return parts[0] + p.pick(_FAKE_BREAKS) + " ".join(parts[1:])
    if x < 0.045:
        return parts[0] + "\t" + " ".join(parts[1:])
    if x < 0.07:
        return " ".join(parts) + " " + p.pick(_EMOJI)
    return " ".join(parts)


_PY_TYPES = ("int", "str", "bytes", "list[str]", "dict[str, int]", "float", "bool", "None")
_PY_VARS = ("lines", "offset", "start", "end", "chunk", "body", "index", "result", "key", "count")
_PY_ATTRS = ("size", "etag", "start", "stop", "name", "data", "status", "offsets", "version")

_PY_STATEMENTS: tuple[tuple[str, ...], ...] = (
    ("{v} = {f}({v2}, start={n})",),
    ("if {v} is None:", '    raise ValueError(f"missing {v}: {{{v2}!r}}")'),
    ("for i, {v} in enumerate({v2}):", "    if {v}.{a} > {n}:", "        break"),
    ("{v} = [x.{a} for x in {v2} if x.{a}]",),
    ("# {comment}",),
    ("try:", "    {v} = {f}({v2})", "except KeyError:", "    {v} = {n}"),
    ('with open(path, encoding="utf-8", newline="") as fh:', "    {v} = fh.read()"),
    ('{v} = {v2}.split(b"\\n")',),
    ('log.info("{f} took %.1f ms", elapsed * 1000)',),
    ("assert {v} >= 0, {v}",),
    ('{v} += len({v2}.encode("utf-8"))',),
    ("while {v} < {v2}:", "    {v} = {f}({v}, {n})"),
    ('{v} = {{"{a}": {v2}, "session_id": session.id}}',),
    ('resp = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={{start}}-{{end}}")',),
    ("yield from {f}({v})",),
)

_PY_COMMENTS = (
    "TODO: handle the empty context",
    "S3 ranges are inclusive",
    "the last line may not end with a newline",
    "keep this in sync with the manifest format",
    "TODO: gérer le cas où la liste est vide",
    "注意：这里需要加锁",
    "ここは後で最適化する",
    "FIXME(zoë): off-by-one after a CRLF line",
    "do not use splitlines(): it breaks on \\u2028 and \\x0c",
    "🐍 fast path",
)


def _python_snippet(p: _Picker) -> tuple[str, ...]:
    fill: dict[str, Any] = {}

    def f(template: str) -> str:
        fill.update(
            v=p.pick(_PY_VARS),
            v2=p.pick(_PY_VARS),
            a=p.pick(_PY_ATTRS),
            f=p.pick(_FUNCS),
            n=p.between(0, 65536),
            comment=p.pick(_PY_COMMENTS),
        )
        return template.format(**fill)

    out: list[str] = []
    x = p.r()
    if x < 0.03:
        out.append("\x0c")  # a form feed between top-level definitions, as in old stdlib files
    if x < 0.15:
        out += ["import json", "from pathlib import Path", ""]
    if p.r() < 0.25:
        name = "".join(w.capitalize() for w in p.pick(_FUNCS).split("_"))
        out += ["@dataclass(frozen=True)", f"class {name}:", f'    """{_sentence(p)}"""', ""]
        for _ in range(p.between(2, 5)):
            out.append(f"    {p.pick(_PY_ATTRS)}: {p.pick(_PY_TYPES)}")
        out += ["", f"    def {p.pick(_FUNCS)}(self) -> {p.pick(_PY_TYPES)}:"]
        out.append(f"        return self.{p.pick(_PY_ATTRS)}")
        return tuple(out)
    params = ", ".join(f"{p.pick(_PY_VARS)}: {p.pick(_PY_TYPES)}" for _ in range(p.between(0, 3)))
    out.append(f"def {p.pick(_FUNCS)}({params}) -> {p.pick(_PY_TYPES)}:")
    if p.r() < 0.6:
        out.append(f'    """{_sentence(p)}"""')
    for _ in range(p.between(2, 7)):
        out += ["    " + f(t) for t in p.pick(_PY_STATEMENTS)]
    out.append(f"    return {p.pick(_PY_VARS)}")
    return tuple(out)


def _go_snippet(p: _Picker) -> tuple[str, ...]:
    name = "".join(w.capitalize() for w in p.pick(_FUNCS).split("_"))
    return (
        f"func (s *Store) {name}(ctx context.Context, key string, start, end int64) "
        "([]byte, error) {",
        '\trng := fmt.Sprintf("bytes=%d-%d", start, end-1)',
        "\tresp, err := s.client.GetObject(ctx, &s3.GetObjectInput{",
        "\t\tBucket: aws.String(s.bucket),",
        "\t\tKey:    aws.String(key),",
        "\t\tRange:  aws.String(rng),",
        "\t})",
        "\tif err != nil {",
        f'\t\treturn nil, fmt.Errorf("{name.lower()} %s: %w", key, err)',
        "\t}",
        "\tdefer resp.Body.Close()",
        f"\t// {p.pick(_PY_COMMENTS)}",
        "\treturn io.ReadAll(resp.Body)",
        "}",
    )


def _shell_snippet(p: _Picker) -> tuple[str, ...]:
    return tuple(
        p.pick(
            (
                f"$ {p.pick(_CMDS)}",
                f"export CONTEXT_BUCKET=contexts-{p.pick(_REPOS).replace('/', '-')}",
                f"aws s3 cp context.txt s3://contexts-dev/{p.between(1, 999):03d}/context.txt",
                'for f in *.log; do\tgrep -c ERROR "$f"; done',
                f"LC_ALL=C sort -t$'\\t' -k{p.between(1, 4)} out.tsv | uniq -c",
                "cat -A sample.txt | head  # shows ^M$ on CRLF lines",
            )
        )
        for _ in range(p.between(2, 6))
    )


_FRAME_DIRS = (
    "/srv/app/",
    "/home/dev/rlm-context-lab/",
    "/home/dev/.venv/lib/python3.11/site-packages/",
    "/usr/lib/python3.11/",
    "/home/zoë/projets/données/",
    "C:\\Users\\dev\\src\\agent\\",
)


def _frame(p: _Picker) -> tuple[str, str, str]:
    base = p.pick(_FRAME_DIRS)
    module = p.pick(_MODULES)
    if base.startswith("C:"):
        module = module.replace("/", "\\")
    x = p.r()
    if x < 0.2:
        module = p.pick(
            (
                "botocore/client.py",
                "botocore/endpoint.py",
                "urllib3/connectionpool.py",
                "json/decoder.py",
                "asyncio/base_events.py",
                "concurrent/futures/_base.py",
            )
        )
    snippet = _python_snippet(p)
    src = p.pick(snippet[1:] if len(snippet) > 1 else snippet).strip()
    if not src or src.startswith(("#", "\x0c", '"""')):
        src = f"return {p.pick(_FUNCS)}(*args, **kwargs)"
    return (base + module, p.pick(_FUNCS), src)


_RECORD_NAMES = (*_FUNCS, *_ACCENTED, *_CJK, *_RTL, *_OTHER_SCRIPTS)


def _record(p: _Picker) -> dict[str, Any]:
    return {
        "id": p.between(1, 10**9),
        "name": p.pick(_RECORD_NAMES),
        "path": p.pick(_MODULES),
        "line": p.between(1, 5000),
        "score": round(p.r(), 4),
        "tags": [p.pick(_WORDS) for _ in range(p.between(0, 3))],
        "ok": p.r() < 0.8,
    }


def _tool_result(p: _Picker) -> dict[str, Any]:
    x = p.r()
    if x < 0.3:
        return {
            "matches": [
                {"path": p.pick(_MODULES), "line": p.between(1, 4000), "text": _sentence(p)}
                for _ in range(p.between(1, 3))
            ],
            "truncated": False,
        }
    if x < 0.5:
        return {
            "stdout": _sentence(p),
            "stderr": "",
            "exit_code": 0,
            "duration_ms": p.between(1, 9000),
        }
    if x < 0.65:
        return {
            "error": p.pick(_EXCEPTIONS),
            "exit_code": p.between(1, 2),
            "retryable": p.r() < 0.5,
        }
    if x < 0.8:
        return {
            "Contents": [
                {"Key": f"contexts/{p.between(0, 999):03d}/lines.txt", "Size": p.between(0, 10**9)}
                for _ in range(p.between(1, 3))
            ],
            "IsTruncated": p.r() < 0.3,
        }
    return {"records": [_record(p) for _ in range(p.between(1, 2))], "next": None}


def _log_message(p: _Picker) -> str:
    x = p.r()
    rid = f"{p.between(0, 0xFFFF):04x}{p.between(0, 0xFFFF):04x}"
    if x < 0.35:
        route = p.pick(_ROUTES).format(id=rid)
        status = p.pick((200, 200, 200, 200, 206, 206, 304, 404, 416, 500, 503))
        return (
            f"{p.pick(('GET', 'GET', 'GET', 'HEAD', 'PUT', 'POST'))} {route}"
            f"?start={p.between(0, 10**6)}&end={p.between(0, 10**6)} {status} {p.between(1, 2000)}.{p.between(0, 9)}ms"
        )
    if x < 0.5:
        return (
            f"cache {p.pick(('hit', 'miss', 'miss', 'evict'))} key=ctx:{rid}:{p.between(0, 4096)}"
        )
    if x < 0.6:
        return (
            f"retrying request attempt={p.between(1, 5)} backoff={p.r() * 4:.2f}s reason=SlowDown"
        )
    if x < 0.7:
        return f"{p.pick(_FUNCS)} took {p.between(1, 30000)} ms for {p.between(1, 10**6)} lines"
    if x < 0.78:
        return f'upload part {p.between(1, 99)}/{p.between(99, 200)} etag="{rid}{rid}" bytes={p.between(5 << 20, 8 << 20)}'
    if x < 0.86:
        return f"unhandled {p.pick(_EXCEPTIONS)}"
    if x < 0.93:
        return f"tool {p.pick(_TOOL_NAMES)} returned {p.between(0, 40000)} chars (truncated={p.r() < 0.2})"
    return f"user message: {_phrase(p)} {_phrase(p)}"


@cache
def _pools() -> _Pools:
    p = _Picker(random.Random(_POOL_SEED))
    json_lines: list[str] = []
    for _ in range(1024):
        text = json.dumps(_tool_result(p), ensure_ascii=p.r() < 0.3)
        if p.r() < 0.02:  # raw U+2028 inside a JSON string (valid JSON, legal in JS since ES2019)
            text = text.replace(" ", " \u2028", 1)
        json_lines.append(text)
    pretty: list[tuple[str, ...]] = []
    for _ in range(256):
        obj = _tool_result(p)
        pretty.append(
            tuple(json.dumps(obj, indent=p.pick((2, 2, 4)), ensure_ascii=False).split("\n"))
        )
    records = tuple(
        json.dumps(_record(p), separators=(",", ":"), ensure_ascii=p.r() < 0.5) for _ in range(512)
    )
    return _Pools(
        prose=tuple(_prose_fragment(p) for _ in range(8192)),
        python=tuple(_python_snippet(p) for _ in range(512)),
        go=tuple(_go_snippet(p) for _ in range(16)),
        shell=tuple(_shell_snippet(p) for _ in range(64)),
        frames=tuple(_frame(p) for _ in range(512)),
        json_lines=tuple(json_lines),
        json_pretty=tuple(pretty),
        json_records=records,
        log_messages=tuple(_log_message(p) for _ in range(4096)),
        non_ascii=tuple(s for group in _NON_ASCII_GROUPS for s in group),
    )


# --------------------------------------------------------------------------------------------
# The per-corpus writer.
# --------------------------------------------------------------------------------------------

_EPOCH_ORDINAL = datetime.date(2024, 1, 1).toordinal()
_LEVELS = ("INFO ",) * 40 + ("DEBUG",) * 4 + ("WARNING",) * 6 + ("ERROR",) * 3
_TRACE_HEADER = "Traceback (most recent call last):"
_CHAINED = "During handling of the above exception, another exception occurred:"


class _Writer:
    def __init__(self, pools: _Pools, seed: int) -> None:
        rng = random.Random(_CORPUS_SEED + str(seed))
        self.pools = pools
        self.r: Callable[[], float] = rng.random
        self.bits: Callable[[int], int] = rng.getrandbits
        self.out: list[str] = []
        self.ms = self.bits(34)  # milliseconds since 2024-01-01, up to ~199 days in
        self.session = 0
        self.session_id = ""
        self.dates: dict[int, str] = {}

    # -- helpers ------------------------------------------------------------------------------

    def pick(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.r() * len(seq))]

    def timestamp(self) -> str:
        self.ms += 1 + int(self.r() * 2500)
        seconds, milli = divmod(self.ms, 1000)
        day, seconds = divmod(seconds, 86400)
        date = self.dates.get(day)
        if date is None:
            date = datetime.date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
            self.dates[day] = date
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{milli:03d}Z"

    def prose_line(self) -> str:
        prose, r = self.pools.prose, self.r
        n = len(prose)
        x = r()
        first = prose[int(r() * n)]
        if x < 0.35:
            return first
        if x < 0.8:
            return first + " " + prose[int(r() * n)]
        return first + " " + prose[int(r() * n)] + " " + prose[int(r() * n)]

    def prose(self, count: int) -> None:
        line = self.prose_line
        self.out.extend([line() for _ in range(count)])

    def count(self, mean: float) -> int:
        """A small geometric-ish count >= 0 with the given mean."""
        n, r, q = 0, self.r, mean / (mean + 1.0)
        while r() < q:
            n += 1
        return n

    # -- blocks -------------------------------------------------------------------------------

    def session_header(self) -> None:
        self.session += 1
        self.session_id = f"{self.bits(32):08x}-{self.bits(16):04x}"
        self.out.append(
            f"### session {self.session:05d} session_id={self.session_id} "
            f"model={self.pick(_MODELS)} started={self.timestamp()}"
        )
        self.out.append("")

    def system_turn(self, opener: bool) -> None:
        fill = {
            "repo": self.pick(_REPOS),
            "n": int(self.r() * 200) + 2,
            "n2": int(self.r() * 60) + 5,
            "path": self.pick(_MODULES),
            "locale": self.pick(_LOCALES),
        }
        template = _SYSTEM_OPENERS[0 if opener else 1 + int(self.r() * (len(_SYSTEM_OPENERS) - 1))]
        self.out.append("SYSTEM: " + template.format(**fill))
        if opener:
            self.prose(int(self.r() * 3))
        self.out.append("")

    def user_turn(self) -> None:
        out = self.out
        out.append("USER: " + self.prose_line())
        self.prose(self.count(2.5))
        x = self.r()
        if x < 0.08:  # pasted from a Windows terminal: every line ends with \r
            out.append("Here is what I see on Windows:")
            if self.r() < 0.5:
                lines = self.traceback_lines()
            else:
                lines = [self.log_line() for _ in range(2 + int(self.r() * 6))]
            out.extend([line + "\r" for line in lines])
            out.append("\r")
        elif x < 0.16:
            out.append("I get this error:")
            out.extend(self.traceback_lines())
        elif x < 0.2:
            out.append("```")
            out.extend([self.log_line() for _ in range(2 + int(self.r() * 8))])
            out.append("```")
        elif x < 0.23:
            out.append(f"Also: {self.pick(self.pools.non_ascii)} {self.pick(self.pools.non_ascii)}")
        elif x < 0.27:  # quoting an earlier message
            out.extend(["> " + self.prose_line() for _ in range(1 + self.count(1.0))])
        out.append("")

    def assistant_turn(self) -> None:
        out, r = self.out, self.r
        out.append("ASSISTANT: " + self.prose_line())
        self.prose(self.count(3.5))
        x = r()
        if x < 0.35:
            self.code_block()
            self.prose(self.count(0.8))
        elif x < 0.45:
            out.append("")
            out.extend(["- " + self.prose_line() for _ in range(2 + int(r() * 4))])
        elif x < 0.5:
            out.append("")
            out.append("| scenario | p50 ms | p99 ms | bytes |")
            out.append("|---|---:|---:|---:|")
            for _ in range(2 + int(r() * 5)):
                p50 = int(r() * 400) + 1
                out.append(
                    f"| {self.pick(_TESTS)} | {p50} | {p50 * (2 + int(r() * 8))} "
                    f"| {int(r() * 10**8)} |"
                )
        out.append("")

    def code_block(self) -> None:
        out, r, pools = self.out, self.r, self.pools
        x = r()
        if x < 0.72:
            out.append("```python")
            for _ in range(1 + int(r() * 2)):
                out.extend(self.pick(pools.python))
                out.append("")
            out[-1] = "```"
        elif x < 0.8:
            out.append("```go")
            out.extend(self.pick(pools.go))
            out.append("```")
        elif x < 0.9:
            out.append("```bash")
            out.extend(self.pick(pools.shell))
            out.append("```")
        else:
            path = self.pick(_MODULES)
            snippet = self.pick(pools.python)
            start = 1 + int(r() * 900)
            out += ["```diff", f"--- a/{path}", f"+++ b/{path}"]
            out.append(f"@@ -{start},{len(snippet)} +{start},{len(snippet) + 1} @@")
            cut = int(r() * len(snippet))
            out.extend([" " + line for line in snippet[:cut]])
            if cut < len(snippet):
                out.append("-" + snippet[cut])
                out.append("+" + snippet[cut].replace("None", "0") + "  # fixed")
            out.extend([" " + line for line in snippet[cut + 1 :]])
            out.append("```")

    def log_line(self) -> str:
        level = self.pick(_LEVELS)
        line = (
            f"{self.timestamp()} {level} [worker-{int(self.r() * 8)}] "
            f"{self.pick(_LOGGERS)}: {self.pick(self.pools.log_messages)}"
        )
        if level == "ERROR" or self.r() < 0.15:
            line += f" session_id={self.session_id}"
        return line

    def traceback_lines(self) -> list[str]:
        r, frames = self.r, self.pools.frames
        lines = [_TRACE_HEADER]
        for _ in range(2 + int(r() * 6)):
            path, func, src = self.pick(frames)
            lines.append(f'  File "{path}", line {1 + int(r() * 2000)}, in {func}')
            lines.append("    " + src)
            if r() < 0.3:
                lines.append("    " + "^" * min(len(src), 3 + int(r() * 20)))
        lines.append(self.pick(_EXCEPTIONS))
        if r() < 0.1:
            lines += ["", _CHAINED, "", _TRACE_HEADER]
            path, func, src = self.pick(frames)
            lines.append(f'  File "{path}", line {1 + int(r() * 2000)}, in {func}')
            lines.append("    " + src)
            lines.append(self.pick(_EXCEPTIONS))
        return lines

    def tool_turn(self) -> None:
        out, r, pools = self.out, self.r, self.pools
        tool = self.pick(_TOOL_NAMES)
        call_id = f"call_{self.bits(48):012x}"
        out.append(f"TOOL: {tool} call_id={call_id} at {self.timestamp()}")
        x = r()
        if x < 0.012:
            out.append(self.long_line())
        elif x < 0.3:
            out.append(f'{{"call_id":"{call_id}","result":{self.pick(pools.json_lines)}}}')
        elif x < 0.42:
            out.extend(self.pick(pools.json_pretty))
        elif x < 0.62:
            out.extend([self.log_line() for _ in range(1 + self.count(6.0))])
        elif x < 0.7:
            out.extend(self.traceback_lines())
        elif x < 0.8:
            self.shell_output()
        elif x < 0.93:  # a file view, `cat -n` style: right-aligned number, a tab, the line
            start = 1 + int(r() * 3000)
            snippet = self.pick(pools.python)
            out.extend([f"{start + i:6d}\t{line}" for i, line in enumerate(snippet)])
        else:
            out.append("id\tpath\tlines\tbytes\tstatus")
            for _ in range(2 + int(r() * 8)):
                out.append(
                    f"{self.bits(20)}\t{self.pick(_MODULES)}\t{int(r() * 5000)}\t"
                    f"{int(r() * 10**6)}\t{self.pick(('ok', 'ok', 'stale', 'missing'))}"
                )
        out.append("")

    def shell_output(self) -> None:
        out, r = self.out, self.r
        out.append(f"$ {self.pick(_CMDS)}")
        x = r()
        if x < 0.4:  # pip-style progress bar: carriage returns inside one line
            size = 10 + int(r() * 900)
            bars = []
            for step in range(1, 5):
                done = size * step // 4
                bars.append(f"   {'━' * (step * 10)}{' ' * (40 - step * 10)} {done}/{size} kB")
            out.append(f"Downloading pkg-{int(r() * 100)}.whl ({size} kB)\r" + "\r".join(bars))
            out.append(f"Successfully installed pkg-{int(r() * 100)}")
        elif x < 0.8:
            total = 2 + int(r() * 10)
            for i in range(total):
                status = "PASSED" if r() < 0.85 else "FAILED"
                out.append(
                    f"tests/{self.pick(_MODULES).rsplit('/', 1)[-1]}::{self.pick(_TESTS)} "
                    f"{status} [{(i + 1) * 100 // total:3d}%]"
                )
            out.append(f"===== {total} passed in {r() * 30:.2f}s =====")
        else:
            for _ in range(2 + int(r() * 6)):
                out.append(
                    f"-rw-r--r--  1 dev  staff  {int(r() * 10**7):>9d} Jan {1 + int(r() * 28):2d} "
                    f"{int(r() * 24):02d}:{int(r() * 60):02d} {self.pick(self.pools.non_ascii)}.txt"
                )

    def long_line(self) -> str:
        target = 5000 + int(self.r() * 45000)
        if self.r() < 0.55:  # minified JSON
            records, n, r = self.pools.json_records, len(self.pools.json_records), self.r
            parts: list[str] = []
            size = 0
            while size < target:
                record = records[int(r() * n)]
                parts.append(record)
                size += len(record) + 1
            return f'{{"session_id":"{self.session_id}","items":[' + ",".join(parts) + "]}"
        raw = target * 3 // 4
        data = base64.b64encode(self.bits(raw * 8).to_bytes(raw, "little")).decode("ascii")
        return f'{{"type":"image","media_type":"image/png","data":"{data}"}}'

    # -- driver -------------------------------------------------------------------------------

    def run(self, lines: int) -> list[str]:
        out, r = self.out, self.r
        while len(out) < lines:
            self.session_header()
            if r() < 0.7:
                self.system_turn(opener=True)
            for _ in range(3 + int(r() * 30)):
                x = r()
                if x < 0.34:
                    self.user_turn()
                elif x < 0.7:
                    self.assistant_turn()
                elif x < 0.97:
                    self.tool_turn()
                else:
                    self.system_turn(opener=False)
        del out[lines:]
        return out


# --------------------------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------------------------


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def generate_corpus(lines: int, seed: int = 0) -> str:
    """Exactly `lines` lines of realistic agent/chat transcript; every line ends with "\\n".

    Only "\\n" ends a line: lines may contain "\\r" (some end in "\\r\\n"), tabs, "\\u2028",
    "\\x0c" and other characters that `str.splitlines()` would split on. The same `(lines, seed)`
    gives the same string byte for byte on any machine and Python 3.11+. Any int seed works
    (negative ones included, each distinct). The result always encodes as UTF-8.
    """
    _check_int("lines", lines)
    _check_int("seed", seed)
    if lines < 0:
        raise ValueError(f"lines must be >= 0, got {lines}")
    if lines == 0:
        return ""
    out = _Writer(_pools(), seed).run(lines)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class CorpusInfo:
    """What identifies a generated corpus: its parameters, size and digest."""

    lines: int
    """Number of lines (count of "\\n"; every line is terminated)."""
    seed: int
    """The seed passed to `generate_corpus`."""
    bytes: int
    """Size of the text encoded as UTF-8."""
    sha256: str
    """Hex SHA-256 of the UTF-8 encoded text."""
    generator_version: int
    """`GENERATOR_VERSION` of the generator that made the text."""


def describe_corpus(text: str, *, lines: int, seed: int) -> CorpusInfo:
    """Size and digest of `text`, which `generate_corpus(lines, seed)` returned.

    Raises ValueError if `text` does not have exactly `lines` newline-terminated lines.
    """
    _check_int("lines", lines)
    _check_int("seed", seed)
    newlines = text.count("\n")
    if newlines != lines or (text and not text.endswith("\n")):
        raise ValueError(
            f"text has {newlines} newlines"
            f"{'' if not text or text.endswith(chr(10)) else ' and an unterminated last line'}"
            f", expected exactly {lines} terminated lines"
        )
    data = text.encode("utf-8")
    return CorpusInfo(
        lines=lines,
        seed=seed,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        generator_version=GENERATOR_VERSION,
    )
