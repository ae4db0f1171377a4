"""Session logs (JSON Lines) -> transcript lines, and ``ctxlab ingest`` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import contexts
from bench.cli import main
from contexts.transcripts import SUMMARY_CHARS, read_transcript, transcript_from_jsonl
from tests.conftest import S3Env

T1, T2 = "2026-11-21T08:00:00Z", "2026-11-21T08:00:05Z"


def record(kind: str, content: Any, stamp: str = T1, **extra: Any) -> str:
    return json.dumps(
        {"type": kind, "timestamp": stamp, "sessionId": "abc-123", "message": {"content": content}}
        | extra
    )


SESSION = [
    json.dumps({"type": "summary", "summary": "ignored"}),
    record("user", "fix the bug\nin parser.py"),
    "{not json",
    record(
        "assistant",
        [
            {"type": "thinking", "thinking": "hmm" * 10},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls\n-la"}},
        ],
        T2,
    ),
    "[1, 2, 3]",
    record(
        "user",
        [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "text", "text": "\ntotal 48\nfile_a\nfile_b"}],
            }
        ],
        T2,
    ),
    json.dumps({"type": "user", "message": "no content object"}),
    record("assistant", 42),
    record("user", [{"type": "tool_result", "is_error": True, "content": "x" * 500}]),
    "",
]

EXPECTED = [
    "=== session abc-123 (s.jsonl) ===\n",
    f"{T1} user: fix the bug\n",
    f"{T1} user: in parser.py\n",
    f"{T2} assistant thinking: (30 characters)\n",
    f"{T2} assistant: Let me look.\n",
    f'{T2} assistant tool_use Bash: {{"command": "ls\\n-la"}}\n',
    f"{T2} user tool_result: total 48 (+3 lines)\n",
    f"{T1} user tool_error: {'x' * (SUMMARY_CHARS - 1)}…\n",
]


def test_sessions_become_readable_lines_and_bad_lines_are_counted() -> None:
    transcript = transcript_from_jsonl(SESSION, source="s.jsonl")
    assert list(transcript.lines) == EXPECTED
    assert (transcript.messages, transcript.skipped, transcript.ignored) == (4, 4, 1)
    assert transcript.session_id == "abc-123"
    assert all(line.count("\n") == 1 and line.endswith("\n") for line in transcript.lines)


def test_undecodable_bytes_are_a_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b"\xff\xfe{}\n" + record("user", "hi").encode() + b"\n")
    transcript = read_transcript(path)
    assert transcript.skipped == 1 and transcript.messages == 1
    assert transcript.lines[-1] == f"{T1} user: hi\n"


@pytest.mark.timeout(60)
def test_ingest_appends_each_session_to_a_shared_context(
    s3: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "projects" / "demo"
    project.mkdir(parents=True)
    (project / "one.jsonl").write_text("\n".join(SESSION))
    (project / "two.jsonl").write_text(record("user", "second session") + "\n")
    (project / "empty.jsonl").write_text("garbage\n")
    url = s3.new_url()
    assert (
        main(
            [
                "ingest",
                str(tmp_path / "projects"),
                "--to",
                url,
                "--endpoint-url",
                s3.endpoint_url,
                "--lines-per-segment",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "ingested 2 session(s)" in out and "5 malformed line(s) skipped" in out
    expected = "".join(read_transcript(project / name).text for name in ("one.jsonl", "two.jsonl"))
    with contexts.open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == expected
        assert ctx.grep("second session") == [(len(EXPECTED) + 1, f"{T1} user: second session\n")]
