"""A scripted RLM session run through a real runtime's own loop, recorded as a trace.

Two runtimes, the same session. ``rlm.RLM(...).completion(...)`` (rlms) and
``dspy.RLM("context, query -> answer", ...)`` (DSPy) drive it exactly as they drive a real
model: ask the root LM for a turn, run the turn's code block in their REPL, feed the output
back, stop at the final answer (rlms: the REPL sets ``answer["ready"]``; dspy: the code calls
``SUBMIT``). Only the models are scripted:

* the root LM (:class:`ScriptedRootLM`, :class:`DspyRootLM`) returns canned turns a competent
  RLM writes for a long chat-transcript corpus (:mod:`scenarios.corpus`): peek (``len``, first and
  last 100 lines), grep for ``ERROR`` log lines, windows around the hits, the busiest session
  read whole, a uniform sweep in big slices handed to ``llm_query_batched``, verification
  re-reads, then the answer. Both runtimes get the same code (:class:`SessionScript`), each in
  its own reply format, ending the way it takes an answer (:data:`SUBMIT`);
* the sub-LLM (:class:`ScriptedSubLM`) answers ``llm_query`` / ``llm_query_batched`` from the
  text in its prompt (it counts tracebacks and the exceptions they end with).

Every scripted LM call sleeps ``think_ms * think_scale``, so the recorded gaps are model latency
at a known scale (see :data:`THINK_SCALE` for why the committed traces are recorded at 1.0).

How the lab context gets in, the supported way in each runtime (:mod:`contexts.rlm`), never a
copy and never an import inside the REPL:

* rlms: :func:`contexts.rlm.rlms_options` (the live object as a custom tool, bound as
  ``context`` and ``context_0`` by ``setup_code``, the prompt text in the system prompt). The
  models are plugged in the way rlms's own tests do it: ``rlm.core.rlm.get_client`` is patched
  for the run to return the scripted clients (the root model, and the sub-LLM as
  ``other_backends[0]``, which rlms routes depth-1 calls to);
* dspy: ``interpreter_factory=contexts.rlm.dspy_interpreter(ctx)`` (the lab's in-process
  ``CodeInterpreter``, the prompt text as its ``execution_instructions``). The models are
  ``dspy.LM`` objects over a scripted engine (:class:`DspyEngine`, DSPy 3.4's interface for
  custom models): the root one set with ``dspy.context(lm=...)``, the sub-LLM as ``sub_lm``.

Think in nominal ms: ``RecordingContext(..., think_scale=...)`` divides the observed gaps by the
scale and records the corpus size; :func:`without_overhead` drops the gaps that are the runtime's
own work.

Regenerate the committed traces (``rlms-session`` is part of the default ``make bench``)::

    python -m bench.rlm_loops --lines 100000 --out scenarios/traces/rlms-session.jsonl
    python -m bench.rlm_loops --runtime dspy --lines 100000 --out scenarios/traces/dspy-session.jsonl

Needs the ``rlms`` extra (``pip install -e '.[rlms]'``), and ``dspy`` for ``--runtime dspy``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import string
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

import rlm
import rlm.core.rlm as rlm_core
from rlm.clients.base_lm import BaseLM
from rlm.core.types import ModelUsageSummary, UsageSummary

import contexts
from contexts import Context, InMemoryContext
from contexts.policies.recording import RecordingContext
from contexts.rlm import PLACEHOLDER, dspy_interpreter, rlms_options
from scenarios.corpus import generate_corpus
from scenarios.library import TRACES_DIR
from scenarios.trace import Think, Trace

TRACE_NAME = "rlms-session"
"""Name of the recorded trace."""
TRACE_PATH = TRACES_DIR / f"{TRACE_NAME}.jsonl"
"""Where the committed recording lives."""
RECORDED_LINES = 100_000
"""Corpus size the committed trace is recorded at (seed 0)."""
THINK_MS = 2_000.0
"""Nominal latency of one scripted LM call (root turn or sub-LLM call)."""
THINK_SCALE = 1.0
"""Default scale of the sleeps while recording: real time. A think op is the observed gap
divided by the scale, and the gap also holds the runtime's own unscaled work: rlms sends every
``llm_query_batched`` prompt as JSON over a local socket and back (about 0.25 s for ten
5,000-line slices), which ``think_scale=0.01`` would record as 25 s of thinking. Quick runs
(tests) pass a small scale and ignore think lengths."""

ROOT_MODEL = "scripted-root"
SUB_MODEL = "scripted-sub"

QUESTION = (
    "Which session logged the most ERROR lines? Give its session id and the count, the "
    "exceptions its tracebacks end with, and the most common exception across the whole "
    "transcript."
)
SUB_ASK = (
    "Count the Python tracebacks in this transcript excerpt and name the exception each one "
    'ends with. Answer as JSON: {"tracebacks": N, "exceptions": {"Name": count}}.'
)
"""What the root model asks the sub-LLM about each excerpt; the excerpt follows ``SEPARATOR``."""
SEPARATOR = "\n---\n"

# -- the root model's turns ------------------------------------------------------------------
# The same turns for both runtimes. ``$name`` placeholders are filled from :class:`SessionScript`;
# ``$submit`` is how the runtime takes a final answer (:data:`SUBMIT`). Each block prints
# ``[step N]`` once its work is done, so the scripted model can tell that it ran to the end.

_TURNS = (
    (
        "Before anything else: what is `context` and how big is it?",
        """\
n = len(context)
head = context[0:100]
print(type(context).__name__, n, "lines")
print(head[:3000])
print("[step 1] read the first 100 lines")""",
    ),
    (
        "Chat transcripts, split into `### session` blocks. How does it end?",
        """\
tail = context[-100:]
print(tail[-3000:])
print("[step 2] read the last 100 lines")""",
    ),
    (
        "Log lines carry a level and ERROR lines carry a session_id. Filter with a regex over "
        "every line instead of reading it all.",
        r"""import re
from collections import Counter

ERROR_LINE = re.compile(r"Z ERROR \[worker-\d+\] ")
SESSION_ID = re.compile(r"session_id=([0-9a-f]{8}-[0-9a-f]{4})")
error_hits = context.grep(r"Z ERROR \[worker-\d+\] .*session_id=")
errors_by_session = Counter(SESSION_ID.findall(line)[-1] for _, line in error_hits)
print(len(error_hits), "ERROR lines in", len(errors_by_session), "sessions")
print(errors_by_session.most_common(5))
print("[step 3] grep for ERROR log lines")""",
    ),
    (
        "Find where the busiest session starts and ends, and look around its first errors.",
        r"""top_id, top_count = errors_by_session.most_common(1)[0]
headers = context.grep(r"^### session \d+ session_id=")
header_no = next(no for no, line in headers if "session_id=" + top_id + " " in line)
end = next((no for no, _ in headers if no > header_no), n)
top_hits = [no for no, line in error_hits if SESSION_ID.findall(line)[-1] == top_id]
for no in top_hits[:3]:
    print(context[max(0, no - $window):no + $window][:2000])
print("[step 4] session", top_id, "spans lines", header_no, "to", end)""",
    ),
    (
        "Read that session whole and have a sub-LLM list its tracebacks.",
        """\
import json

ASK = $ask
SEP = $sep
session_text = context[header_no:end]
session_summary = json.loads(llm_query(ASK + SEP + session_text))
print(len(session_text), "chars;", session_summary)
print("[step 5] read the session and summarised it")""",
    ),
    (
        "For the transcript-wide question, sweep everything in uniform $chunk-line slices, "
        "$batch sub-LLM calls at a time.",
        """\
chunk = $chunk
plan = list(range(0, n, chunk))
sweep = []
for first in range(0, len(plan), $batch):
    prompts = [
        ASK + f" (lines {a}-{min(a + chunk, n) - 1})" + SEP + context[a:a + chunk]
        for a in plan[first:first + $batch]
    ]
    sweep.extend(json.loads(reply) for reply in llm_query_batched(prompts))
exceptions = Counter()
for part in sweep:
    exceptions.update(part["exceptions"])
tracebacks = sum(part["tracebacks"] for part in sweep)
print(len(sweep), "slices,", tracebacks, "tracebacks:", exceptions.most_common(5))
print("[step 6] swept the whole context")""",
    ),
    (
        "Verify before answering: the session header again, the first error window again, and "
        "a recount of the session's ERROR lines.",
        """\
print(context[header_no][:300])
first = top_hits[0]
window = context[max(0, first - $window):first + $window]
again = context[header_no:end]
recount = sum(
    1
    for line in again.split("\\n")
    if ERROR_LINE.search(line) and SESSION_ID.findall(line)[-1:] == [top_id]
)
print("recount", recount, "of", top_count, "; window", len(window), "chars")
print("[step 7] verified")""",
    ),
    (
        "Everything checks out; submit.",
        """\
common, common_count = exceptions.most_common(1)[0]
found = ", ".join(f"{name} x{count}" for name, count in sorted(session_summary["exceptions"].items()))
final = (
    f"session_id={top_id} (lines {header_no}-{end - 1}) logged the most ERROR lines: "
    f"{top_count} (recounted {recount}); its tracebacks end in: {found or 'none'}; "
    f"across the transcript {tracebacks} tracebacks, most often {common} ({common_count}x)"
)
print("[step 8] answered")
$submit""",
    ),
)


SUBMIT = {
    "rlms": 'answer["content"] = final\nanswer["ready"] = True',
    "dspy": "SUBMIT(final)",
}
"""How the last block hands in ``final``, per runtime: rlms's LocalREPL stops when
``answer["ready"]`` is set, dspy.RLM when the code calls ``SUBMIT(answer)``."""


@dataclass(frozen=True)
class SessionScript:
    """The root model's turns, with the sizes a model would pick for this corpus."""

    chunk_lines: int = 5_000
    """Lines per slice of the uniform sweep."""
    batch: int = 10
    """Slices per ``llm_query_batched`` call."""
    window: int = 10
    """Lines read either side of an error hit."""

    def blocks(self, runtime: str = "rlms") -> tuple[tuple[str, str], ...]:
        """Each turn's sentence of plan and its code, ending the way ``runtime`` takes an
        answer (a key of :data:`SUBMIT`)."""
        values = {
            "chunk": self.chunk_lines,
            "batch": self.batch,
            "window": self.window,
            "ask": repr(SUB_ASK),
            "sep": repr(SEPARATOR),
            "submit": SUBMIT[runtime],
        }
        return tuple(
            (string.Template(plan).substitute(values), string.Template(code).substitute(values))
            for plan, code in _TURNS
        )

    def turns(self) -> tuple[str, ...]:
        """Each rlms root-model response: a sentence of plan, then one ```repl``` block."""
        return tuple(f"{plan}\n```repl\n{code}\n```" for plan, code in self.blocks("rlms"))

    def dspy_turns(self) -> tuple[str, ...]:
        """Each dspy.RLM root-model response, as a model writes it for DSPy's ChatAdapter: the
        action signature's ``reasoning`` and ``code`` fields (a fenced Python block)."""
        return tuple(
            f"[[ ## reasoning ## ]]\n{plan}\n\n[[ ## code ## ]]\n```python\n{code}\n```\n\n"
            "[[ ## completed ## ]]"
            for plan, code in self.blocks("dspy")
        )

    def sub_calls(self, lines: int) -> int:
        """Sub-LLM calls the session makes on ``lines`` lines: the busiest session, then every
        slice of the sweep."""
        return 1 + -(-lines // self.chunk_lines)


# -- the scripted models -------------------------------------------------------------------


class ScriptedLM(BaseLM):  # type: ignore[misc]  # rlms ships no type information
    """A ``BaseLM`` that answers without a network and sleeps ``think_ms * think_scale`` per
    call (``acompletion`` sleeps without blocking, so a batch of calls overlaps)."""

    def __init__(self, model_name: str, *, think_ms: float, think_scale: float) -> None:
        super().__init__(model_name=model_name)
        self.think_ms = think_ms
        self.think_scale = think_scale
        self._lock = threading.Lock()
        self.calls = 0
        self._input_chars = 0
        self._output_chars = 0
        self._last = ModelUsageSummary(0, 0, 0)

    @property
    def delay_s(self) -> float:
        """Seconds one call sleeps."""
        return max(0.0, self.think_ms * self.think_scale / 1000)

    def respond(self, prompt: Any) -> str:
        """The answer to ``prompt`` (subclasses)."""
        raise NotImplementedError

    def _answer(self, prompt: Any) -> str:
        reply = self.respond(prompt)
        size = len(prompt) if isinstance(prompt, str) else len(json.dumps(prompt, default=str))
        usage = ModelUsageSummary(1, size // 4, len(reply) // 4)
        with self._lock:
            self.calls += 1
            self._input_chars += size
            self._output_chars += len(reply)
            self._last = usage
        return reply

    def completion(self, prompt: Any) -> str:
        time.sleep(self.delay_s)
        return self._answer(prompt)

    async def acompletion(self, prompt: Any) -> str:
        await asyncio.sleep(self.delay_s)
        return self._answer(prompt)

    def get_usage_summary(self) -> Any:
        with self._lock:
            usage = ModelUsageSummary(self.calls, self._input_chars // 4, self._output_chars // 4)
        return UsageSummary(model_usage_summaries={self.model_name: usage})

    def get_last_usage(self) -> Any:
        with self._lock:
            return self._last


def _since_last_turn(prompt: Any) -> str:
    """What the runtime told the model after its last turn (the REPL output and turn prompt)."""
    if isinstance(prompt, str):
        return prompt
    messages = list(prompt)
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "assistant":
            return "\n".join(str(message.get("content", "")) for message in messages[index + 1 :])
    return ""


class ScriptedRootLM(ScriptedLM):
    """The root model: the turns of a :class:`SessionScript`, in order. A turn whose block did
    not run to its ``[step N]`` print (an exception in the REPL) stops the session."""

    def __init__(self, turns: Sequence[str], *, think_ms: float, think_scale: float) -> None:
        super().__init__(ROOT_MODEL, think_ms=think_ms, think_scale=think_scale)
        self.turns = tuple(turns)
        self.outputs: list[str] = []
        """What the runtime reported back after each turn (REPL output included)."""

    def since_last_turn(self, prompt: Any) -> str:
        """What the runtime reported after the last turn (rlms: the messages after it)."""
        return _since_last_turn(prompt)

    def respond(self, prompt: Any) -> str:
        step = self.calls  # turns answered so far
        if step:
            seen = self.since_last_turn(prompt)
            self.outputs.append(seen)
            if f"[step {step}]" not in seen:
                raise RuntimeError(f"the REPL block of turn {step} did not finish:\n{seen[-3000:]}")
        if step >= len(self.turns):
            raise RuntimeError(f"the script has {len(self.turns)} turns; the runtime asked again")
        return self.turns[step]


_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION = re.compile(r"((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)))\b")


def summarise_excerpt(text: str) -> dict[str, Any]:
    """What the sub-LLM answers about an excerpt: tracebacks, and the exception each ends with
    (the first unindented line after a ``Traceback`` header, by its unqualified name)."""
    tracebacks, names = 0, Counter[str]()
    pending = False
    for line in text.split("\n"):
        if line.startswith(_TRACEBACK):
            tracebacks += 1
            pending = True
        elif pending and line.strip() and not line[0].isspace():
            pending = False
            match = _EXCEPTION.match(line)
            if match:
                names[match.group(2)] += 1
    return {"tracebacks": tracebacks, "exceptions": dict(sorted(names.items()))}


class ScriptedSubLM(ScriptedLM):
    """The sub-LLM behind ``llm_query`` / ``llm_query_batched``: reads the excerpt in its prompt
    (after :data:`SEPARATOR`) and answers :data:`SUB_ASK` as JSON."""

    def __init__(self, *, think_ms: float, think_scale: float) -> None:
        super().__init__(SUB_MODEL, think_ms=think_ms, think_scale=think_scale)

    def respond(self, prompt: Any) -> str:
        if not isinstance(prompt, str) or SEPARATOR not in prompt:
            raise ValueError("the scripted sub-LLM answers SUB_ASK prompts only")
        ask, _, excerpt = prompt.partition(SEPARATOR)
        if not ask.startswith(SUB_ASK):
            raise ValueError(f"the scripted sub-LLM cannot answer {ask[:200]!r}")
        return json.dumps(summarise_excerpt(excerpt), sort_keys=True)


# -- the same models in dspy.RLM -------------------------------------------------------------


class DspyRootLM(ScriptedRootLM):
    """The root model for ``dspy.RLM``: :meth:`SessionScript.dspy_turns`, in order. dspy sends
    no assistant messages: it renders the REPL history in the last user message, and what it
    reported after turn N is the ``Output`` of that history's ``=== Step N ===`` entry."""

    def since_last_turn(self, prompt: Any) -> str:
        text = prompt if isinstance(prompt, str) else str(list(prompt)[-1].get("content", ""))
        start = text.rfind(f"=== Step {self.calls} ===")
        if start < 0:
            return ""
        output = text[start:].partition("\nOutput (")[2]
        return output.partition("\n\n[[ ## ")[0]  # the next input field ends the history


class DspyEngine:
    """A scripted LM as a DSPy engine (``complete(Request) -> Response``, DSPy 3.4's interface
    for custom models; no network). The scripted LM gets the request as chat messages, or as
    the bare prompt when that is all there is (dspy's ``llm_query``)."""

    def __init__(self, lm: ScriptedLM) -> None:
        self.lm = lm

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, TextPart, Usage

        messages: list[dict[str, str]] = []
        if request.system is not None:
            system = request.system
            text = system if isinstance(system, str) else "".join(part.text for part in system)
            messages.append({"role": "system", "content": text})
        messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
        bare = len(messages) == 1 and messages[0]["role"] == "user"
        prompt: Any = messages[0]["content"] if bare else messages
        reply = self.lm.completion(prompt)
        size = sum(len(message["content"]) for message in messages)
        return Response(
            id=None,
            model=self.lm.model_name,
            message=Message.assistant([TextPart(reply)]),
            finish_reason="stop",
            usage=Usage(input_tokens=size // 4, output_tokens=len(reply) // 4),
        )

    def stream(self, request: Any) -> Any:
        raise NotImplementedError("the scripted models do not stream")

    def close(self) -> None:
        """Nothing to release."""


def dspy_lm(lm: ScriptedLM) -> Any:
    """``lm`` as a ``dspy.LM`` (uncached: a repeated prompt still reaches the script)."""
    import dspy

    return dspy.LM(f"scripted/{lm.model_name}", engine=DspyEngine(lm), cache=False, num_retries=0)


# -- running and recording -------------------------------------------------------------------


@dataclass
class SessionResult:
    """What one scripted session did."""

    answer: str
    """The final answer the runtime returned."""
    root_calls: int
    """Root-model turns the runtime asked for."""
    sub_calls: int
    """Sub-LLM calls (``llm_query`` and each prompt of ``llm_query_batched``)."""
    outputs: list[str] = field(default_factory=list)
    """What the root model was shown after each turn."""
    seconds: float = 0.0
    """Wall time of ``RLM.completion``."""


def run_session(
    context: Context,
    *,
    script: SessionScript | None = None,
    think_ms: float = THINK_MS,
    sub_think_ms: float | None = None,
    think_scale: float = THINK_SCALE,
) -> SessionResult:
    """Run the scripted session through ``rlm.RLM(...).completion`` with ``context`` (the live
    object, never a copy) as the REPL's ``context``. Does not close ``context``. The size the
    prompt states is read from a recorder's inner context, so the recording holds only the
    model's reads.

    Patches ``rlm.core.rlm.get_client`` for the duration, so do not run two sessions at once in
    one process."""
    turns = (script or SessionScript()).turns()
    root = ScriptedRootLM(turns, think_ms=think_ms, think_scale=think_scale)
    sub = ScriptedSubLM(
        think_ms=think_ms if sub_think_ms is None else sub_think_ms, think_scale=think_scale
    )
    clients: dict[str, ScriptedLM] = {ROOT_MODEL: root, SUB_MODEL: sub}
    unwrapped = context.inner if isinstance(context, RecordingContext) else context

    def get_client(backend: str, backend_kwargs: dict[str, Any]) -> ScriptedLM:
        return clients[backend_kwargs["model_name"]]

    session = rlm.RLM(
        backend="openai",  # never constructed: get_client is patched below
        backend_kwargs={"model_name": ROOT_MODEL},
        other_backends=["openai"],
        other_backend_kwargs=[{"model_name": SUB_MODEL}],
        max_iterations=len(turns) + 1,
        **rlms_options(context, lines=len(unwrapped)),
    )
    start = time.perf_counter()
    with mock.patch.object(rlm_core, "get_client", get_client):
        completion = session.completion(PLACEHOLDER, root_prompt=QUESTION)
    seconds = time.perf_counter() - start
    return SessionResult(str(completion.response), root.calls, sub.calls, root.outputs, seconds)


def run_dspy_session(
    context: Context,
    *,
    script: SessionScript | None = None,
    think_ms: float = THINK_MS,
    sub_think_ms: float | None = None,
    think_scale: float = THINK_SCALE,
) -> SessionResult:
    """Run the scripted session through ``dspy.RLM("context, query -> answer", ...)`` with
    ``context`` (the live object, never a copy) bound by :func:`contexts.rlm.dspy_interpreter`.
    The same turns as :func:`run_session`, submitted with ``SUBMIT``; the scripted models are
    ``dspy.LM`` objects over :class:`DspyEngine` (the root one set with ``dspy.context``, the
    sub-LLM as ``sub_lm``). Does not close ``context``; the stated size is read from a
    recorder's inner context. ``outputs`` is what dspy reported after each turn (its
    trajectory)."""
    import dspy

    script = script or SessionScript()
    turns = script.dspy_turns()
    root = DspyRootLM(turns, think_ms=think_ms, think_scale=think_scale)
    sub = ScriptedSubLM(
        think_ms=think_ms if sub_think_ms is None else sub_think_ms, think_scale=think_scale
    )
    lines = len(context.inner if isinstance(context, RecordingContext) else context)
    program = dspy.RLM(
        "context, query -> answer",
        interpreter_factory=dspy_interpreter(context, lines=lines),
        sub_lm=dspy_lm(sub),
        max_iters=len(turns),
        max_llm_calls=script.sub_calls(lines),
    )
    start = time.perf_counter()
    with dspy.context(lm=dspy_lm(root)):
        prediction = program(context=PLACEHOLDER, query=QUESTION)
    seconds = time.perf_counter() - start
    outputs = [str(step["output"]) for step in prediction.trajectory]
    return SessionResult(str(prediction.answer), root.calls, sub.calls, outputs, seconds)


RUNTIMES = {"rlms": run_session, "dspy": run_dspy_session}
"""The scripted session in each runtime, by the name ``--runtime`` takes."""
TRACE_NAMES = {"rlms": TRACE_NAME, "dspy": "dspy-session"}
"""The recorded trace of each runtime (``scenarios/traces/<name>.jsonl``)."""


def trace_path(runtime: str) -> Path:
    """Where the committed recording of ``runtime``'s loop lives."""
    return TRACES_DIR / f"{TRACE_NAMES[runtime]}.jsonl"


def without_overhead(trace: Trace, overhead_ms: float) -> Trace:
    """``trace`` without the think ops shorter than ``overhead_ms`` (nominal ms): the REPL's and
    the runtime's own work between two calls, not the model thinking."""
    ops = tuple(op for op in trace.ops if not (isinstance(op, Think) and op.ms < overhead_ms))
    return Trace(trace.name, ops, trace.params)


def record_session(
    inner: Context,
    *,
    think_scale: float = THINK_SCALE,
    think_ms: float = THINK_MS,
    script: SessionScript | None = None,
    runtime: str = "rlms",
    trace_name: str | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[Trace, SessionResult]:
    """Run the scripted session in ``runtime`` (a key of :data:`RUNTIMES`) over
    ``RecordingContext(inner)``: the trace (think in nominal ms; named after the runtime's
    recording unless ``trace_name``) and what the session did. ``inner`` stays open."""
    if think_scale <= 0:
        raise ValueError(f"think_scale must be > 0 to recover nominal think, not {think_scale}")
    run = RUNTIMES[runtime]
    name = TRACE_NAMES[runtime] if trace_name is None else trace_name
    recorder = RecordingContext(inner, trace_name=name, think_scale=think_scale)
    result = run(recorder, script=script, think_ms=think_ms, think_scale=think_scale)
    trace = without_overhead(recorder.trace(), overhead_ms=think_ms / 2)
    extra = {
        "runtime": f"{runtime} {metadata.version(runtime)}",
        "think_ms": think_ms,
        "root_calls": result.root_calls,
        "sub_calls": result.sub_calls,
        **(params or {}),
    }
    return Trace(trace.name, trace.ops, {**trace.params, **extra}), result


def record_corpus(
    lines: int = RECORDED_LINES,
    seed: int = 0,
    *,
    think_scale: float = THINK_SCALE,
    think_ms: float = THINK_MS,
    script: SessionScript | None = None,
    runtime: str = "rlms",
) -> tuple[Trace, SessionResult]:
    """:func:`record_session` over an in-memory ``generate_corpus(lines, seed)`` (the access
    pattern does not depend on the storage)."""
    text = generate_corpus(lines, seed=seed)
    with InMemoryContext(text) as inner:
        return record_session(
            inner,
            think_scale=think_scale,
            think_ms=think_ms,
            script=script,
            runtime=runtime,
            params={"seed": seed, "corpus": "scenarios.corpus.generate_corpus"},
        )


def describe(trace: Trace) -> str:
    """One line: op count, kinds and nominal think."""
    kinds = Counter(type(op).__name__.lower() for op in trace.ops)
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    return f"{len(trace.ops)} ops ({counts}); think {trace.think_ms / 1000:,.1f} s nominal"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.rlm_loops``: record the scripted session and write the trace."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.rlm_loops", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--lines", type=int, default=RECORDED_LINES, help="corpus lines (seed --seed)"
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument(
        "--runtime", choices=sorted(RUNTIMES), default="rlms", help="the RLM runtime to drive"
    )
    parser.add_argument(
        "--out", type=Path, help="trace file to write (default: the runtime's committed trace)"
    )
    parser.add_argument("--think-ms", type=float, default=THINK_MS, help="nominal ms per LM call")
    parser.add_argument(
        "--think-scale", type=float, default=THINK_SCALE, help="sleep this fraction of --think-ms"
    )
    parser.add_argument(
        "--url", help="record over a stored context instead (s3://... or a directory)"
    )
    parser.add_argument("--context", default="s3-threaded", help="registry name for --url")
    parser.add_argument("--endpoint-url", help="S3 endpoint for --url")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.url:
        options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
        with contexts.open_context(args.context, args.url, **options) as inner:
            trace, result = record_session(
                inner,
                think_scale=args.think_scale,
                think_ms=args.think_ms,
                runtime=args.runtime,
                params={"context": args.context},
            )
    else:
        trace, result = record_corpus(
            args.lines,
            args.seed,
            think_scale=args.think_scale,
            think_ms=args.think_ms,
            runtime=args.runtime,
        )
    out = args.out or trace_path(args.runtime)
    trace.save(out)
    seconds = time.perf_counter() - start
    print(f"answer: {result.answer}")
    print(
        f"{out}: {describe(trace)}; {result.root_calls} root turns, {result.sub_calls} "
        f"sub-LLM calls; recorded in {seconds:.1f} s (the {args.runtime} session "
        f"{result.seconds:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
