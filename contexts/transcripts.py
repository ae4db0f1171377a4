"""Coding-agent session logs (JSON Lines, Claude Code style) as readable transcript lines.

Input: one JSON object per line, e.g. ``~/.claude/projects/*/*.jsonl``; records of ``type``
``user`` / ``assistant`` carry ``message.content`` as a string or a list of blocks (``text``,
``tool_use``, ``tool_result``, ``thinking``, ``image``). Other record types (``summary``,
``system``, snapshots) are ignored; lines that are not JSON objects or lack a usable message are
skipped and counted — one bad line never stops a session.

Output format, one transcript line per physical line of text, every line self-describing:

    === session 1f0c… (/path/to/session.jsonl) ===
    2026-11-21T08:00:00.000Z user: first line of the prompt
    2026-11-21T08:00:00.000Z user: second line of the prompt
    2026-11-21T08:00:05.000Z assistant: Let me look.
    2026-11-21T08:00:05.000Z assistant tool_use Bash: {"command": "ls -la"}
    2026-11-21T08:00:06.000Z user tool_result: total 48 (+12 lines)

Multi-line text becomes several lines that repeat the ``timestamp role:`` prefix (so ``grep``
hits always show who said it and when); tool calls, tool results and thinking are summarised to
one line of at most :data:`SUMMARY_CHARS` characters. Only ``"\\n"`` ends a line, as everywhere
in this project.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUMMARY_CHARS = 200
"""Longest summary of a tool call, tool result or thinking block."""
_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Transcript:
    """One session turned into transcript lines."""

    session_id: str
    """``sessionId`` of the first message record, else the file name without ``.jsonl``."""
    source: str
    """Where the session was read from (for the header line)."""
    lines: tuple[str, ...]
    """Transcript lines, each ending in ``"\\n"`` and holding no other ``"\\n"``."""
    messages: int
    """Records turned into lines."""
    skipped: int
    """Malformed lines skipped (not JSON, not an object, no usable message)."""
    ignored: int
    """Well-formed records of other types (``summary``, ``system``, ...)."""

    @property
    def text(self) -> str:
        """The transcript as one text, ready for ``write_layout`` or ``append_text``."""
        return "".join(self.lines)


def read_transcript(path: str | Path) -> Transcript:
    """Read one session log file (undecodable bytes count as malformed lines)."""
    path = Path(path)
    raw_lines = path.read_bytes().split(b"\n")
    return transcript_from_jsonl(raw_lines, source=str(path), default_id=path.stem)


def transcript_from_jsonl(
    raw_lines: Iterable[bytes | str], *, source: str, default_id: str = "session"
) -> Transcript:
    """Turn JSON Lines into a :class:`Transcript`; bad lines are counted, never raised."""
    body: list[str] = []
    session_id: str | None = None
    messages = skipped = ignored = 0
    for raw in raw_lines:
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            skipped += 1
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        if not isinstance(record, dict):
            skipped += 1
            continue
        kind = record.get("type")
        if kind not in _ROLES:
            ignored += 1
            continue
        rendered = render_record(record)
        if rendered is None:
            skipped += 1
            continue
        if session_id is None and isinstance(record.get("sessionId"), str):
            session_id = record["sessionId"]
        messages += 1
        body.extend(rendered)
    session = _one_line(session_id or default_id)
    header = f"=== session {session} ({_one_line(source)}) ===\n"
    return Transcript(session, source, (header, *body), messages, skipped, ignored)


def render_record(record: dict[str, Any]) -> list[str] | None:
    """The transcript lines of one user/assistant record, or ``None`` if it is malformed."""
    message = record.get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    role = str(record.get("type"))
    stamp = _one_line(str(record.get("timestamp") or "-"))
    prefix = f"{stamp} {role}"
    if isinstance(content, str):
        return _text_lines(prefix, content)
    if not isinstance(content, list):
        return None
    lines: list[str] = []
    for block in content:
        if isinstance(block, str):
            lines += _text_lines(prefix, block)
        elif isinstance(block, dict):
            lines += _block_lines(prefix, block)
        else:
            return None
    return lines


def _block_lines(prefix: str, block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "text":
        return _text_lines(prefix, str(block.get("text", "")))
    if kind == "tool_use":
        name = _one_line(str(block.get("name", "?")))
        arguments = json.dumps(block.get("input", {}), ensure_ascii=False, sort_keys=True)
        return [f"{prefix} tool_use {name}: {_shorten(arguments)}\n"]
    if kind == "tool_result":
        label = "tool_error" if block.get("is_error") else "tool_result"
        return [f"{prefix} {label}: {_summary(_result_text(block.get('content')))}\n"]
    if kind in ("thinking", "redacted_thinking"):
        size = len(str(block.get("thinking", block.get("data", ""))))
        return [f"{prefix} thinking: ({size:,} characters)\n"]
    return [f"{prefix} {_one_line(str(kind))}: (not shown)\n"]


def _text_lines(prefix: str, text: str) -> list[str]:
    return [f"{prefix}: {part}\n" for part in text.split("\n")]


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(item.get("text", "")) if isinstance(item, dict) else str(item) for item in content
        ]
        return "\n".join(parts)
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _summary(text: str) -> str:
    """The first non-empty line, shortened, and how many lines followed."""
    lines = text.split("\n")
    first = next((line for line in lines if line.strip()), "")
    rest = len(lines) - 1
    return _shorten(first) + (f" (+{rest} lines)" if rest else "")


def _shorten(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def _one_line(text: str) -> str:
    return text.replace("\n", "\\n")
