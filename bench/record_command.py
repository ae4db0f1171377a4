"""Record how an RLM uses its context: run a Python script with `context` bound to a
RecordingContext over a lab context, and write the trace.

Without a script, print how to wrap the context inside your own RLM run instead. The script
runs like `python SCRIPT ARGS...` (same `__name__ == "__main__"`), with the global `context`
already set; it may also create its own contexts and wrap them. Replay the result with
`ctxlab replay TRACE.jsonl --contexts ...`.
"""

from __future__ import annotations

import argparse
import math
import runpy
import sys
from pathlib import Path

HOW_TO = """\
Record a real RLM run: wrap the context the RLM's REPL sees.

    import contexts
    from contexts import RecordingContext

    inner = contexts.open_context("s3-threaded", "s3://bucket/run-42/")
    context = RecordingContext(inner, "run-42.jsonl")   # same answers, every call logged
    # (a scripted model that sleeps 20 ms for each 2 s LLM call: add think_scale=0.01)

    # rlms (pip install 'rlm-context-lab[rlms]'):
    from rlm.environments import LocalREPL
    repl = LocalREPL()
    repl.locals["context_0"] = repl.locals["context"] = context
    repl.execute_code("print(len(context)); print(context[0:100])")   # the model's code

    context.close()   # writes run-42.jsonl (+ run-42.events.jsonl: raw timed events)

Gaps between calls become think ops, overlapping reads from several threads (llm_query_batched)
become batch ops; the trace's header keeps the context's size (lines, bytes) and the think
scale, which replay uses by default. Or let this command do the wrapping:

    ctxlab record --context s3-threaded --url s3://bucket/run-42/ --out run-42.jsonl my_rlm.py

Then: ctxlab replay run-42.jsonl --contexts s3-sequential,s3-threaded --profile s3-standard
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``[SCRIPT [ARGS...]]`` and where the context is."""
    parser.add_argument("script", nargs="?", type=Path, help="Python script using `context`")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments for the script")
    parser.add_argument("--context", default="s3-threaded", help="registry name to open")
    parser.add_argument("--url", help="where the context is stored (s3://... or a directory)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (S3 contexts only)")
    parser.add_argument("--text", type=Path, help="a local text file, opened in memory instead")
    parser.add_argument("--out", type=Path, default=Path("recorded.jsonl"), help="trace file")
    parser.add_argument("--name", default="recorded", help="trace name")
    parser.add_argument(
        "--think-scale",
        type=_scale,
        default=1.0,
        help="how much faster than real the script thinks: 1 for a real RLM (default), 0.01 for "
        "a scripted model that sleeps 20 ms for a 2 s LLM call; think ops are stored divided "
        "by it and replay uses it by default",
    )


def _scale(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not (math.isfinite(scale) and scale > 0):
        raise argparse.ArgumentTypeError(f"--think-scale takes a positive number, not {text!r}")
    return scale


def run(args: argparse.Namespace) -> int:
    """Print the how-to, or run the script with the context wrapped; 0 when the trace is written."""
    if args.script is None:
        print(HOW_TO, end="")
        return 0
    import contexts
    from scenarios import RecordingContext

    if args.text is not None:
        inner: contexts.Context = contexts.InMemoryContext(args.text.read_text(encoding="utf-8"))
    elif args.url:
        options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
        inner = contexts.open_context(args.context, args.url, **options)
    else:
        raise SystemExit("ctxlab record: give --url (stored context) or --text (local file)")
    context = RecordingContext(inner, args.out, trace_name=args.name, think_scale=args.think_scale)
    argv = sys.argv
    sys.argv = [str(args.script), *args.script_args]
    try:
        runpy.run_path(str(args.script), {"context": context}, run_name="__main__")
    finally:
        sys.argv = argv
        context.close()
    trace = context.trace()
    size = f"{trace.corpus_lines:,} lines" if trace.corpus_lines is not None else "unknown size"
    if trace.corpus_bytes is not None:
        size += f", {trace.corpus_bytes:,} bytes"
    print(
        f"recorded {len(trace.ops)} ops (version {trace.version}) on a context of {size}, "
        f"think x{args.think_scale:g}, to {args.out}"
    )
    return 0
