"""Lab contexts inside RLM runtimes through ``contexts.rlm``: a scripted multi-turn session
(peek, grep, chunked sub-calls, an answer) gives the same answer on S3 as in memory, the REPL's
``context`` is the live lab object, ``text()`` is never called, and the prompt text reaches the
model. No test looks at a clock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

import contexts
import contexts.rlm
from contexts import Context, InMemoryContext, MissingDependencyError, StrView
from scenarios.corpus import generate_corpus
from tests.conftest import S3Env

LINES = 2_000
CHUNK = 400
QUESTION = "Which session logged the most ERROR lines, and how many tracebacks are there?"
SESSION_ID = r"session_id=([0-9a-f]{8}-[0-9a-f]{4})"
LIVE = "live: True"
"""What the first and third blocks print when ``context`` is the lab object itself."""


@pytest.fixture(scope="module")
def corpus() -> str:
    return generate_corpus(LINES, seed=0)


@pytest.fixture
def s3_context(s3: S3Env, corpus: str) -> Iterator[Context]:
    url = s3.new_url()
    contexts.write_layout(corpus, url, endpoint_url=s3.endpoint_url, lines_per_segment=250)
    with contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url) as ctx:
        yield ctx


ANSWER = 'f"{top_id} logged {top_count} ERROR lines; {tracebacks} tracebacks"'
"""The final block's answer expression, over the variables the earlier blocks left."""


def model_blocks(ctx_id: int, ask: str, sep: str, finish: str) -> tuple[str, ...]:
    """The code a model writes, one block per turn; each of the first three ends by printing
    ``[step N]``; ``finish`` submits :data:`ANSWER` the runtime's way."""
    return (
        f"""\
n = len(context)
print("live:", id(context) == {ctx_id})
print(n, "lines"); print(context[0:20][:800])
print("[step 1]")""",
        rf"""import re
from collections import Counter
hits = context.grep(r"Z ERROR \[worker-\d+\] .*session_id=")
by_session = Counter(re.findall(r"{SESSION_ID}", line)[-1] for _, line in hits)
top_id, top_count = by_session.most_common(1)[0]
print(len(hits), "ERROR lines; busiest", top_id, top_count)
print("[step 2]")""",
        f"""\
import json
ranges = [(a, min(a + {CHUNK}, n)) for a in range(0, n, {CHUNK})]
slices = context.read_many(ranges)
replies = llm_query_batched([{ask!r} + {sep!r} + s for s in slices])
tracebacks = sum(json.loads(r)["tracebacks"] for r in replies)
print("live:", id(context) == {ctx_id})
print(len(slices), "slices,", tracebacks, "tracebacks")
print("[step 3]")""",
        finish.format(answer=ANSWER),
    )


def expected_answer(text: str) -> str:
    """The answer computed from the text itself, not through any runtime."""
    import re
    from collections import Counter

    from bench.rlm_loops import summarise_excerpt

    lines = text.splitlines(keepends=True)
    error = re.compile(r"Z ERROR \[worker-\d+\] .*session_id=")
    counts = Counter(re.findall(SESSION_ID, line)[-1] for line in lines if error.search(line))
    top_id, top_count = counts.most_common(1)[0]
    chunks = ("".join(lines[a : a + CHUNK]) for a in range(0, len(lines), CHUNK))
    tracebacks = sum(summarise_excerpt(chunk)["tracebacks"] for chunk in chunks)
    return f"{top_id} logged {top_count} ERROR lines; {tracebacks} tracebacks"


# -- rlms ------------------------------------------------------------------------------------


RLMS_FINISH = 'answer["content"] = {answer}\nanswer["ready"] = True\nprint("[step 4]")'
"""How the last block hands its answer to rlms."""


def complete_with_rlms(
    blocks: tuple[str, ...], prompt: str, **options: Any
) -> tuple[str, Any, Any]:
    """``blocks`` as the scripted root model's turns through ``rlm.RLM(**options).completion``
    with ``prompt``; returns the answer, the root model (it keeps every prompt it was sent) and
    the sub-LLM."""
    pytest.importorskip("rlm", reason="the rlms extra is not installed")
    import rlm
    import rlm.core.rlm as rlm_core

    from bench import rlm_loops

    class RootLM(rlm_loops.ScriptedRootLM):  # type: ignore[misc]
        """Also keeps every prompt it was sent."""

        prompts: list[Any]

        def respond(self, prompt: Any) -> str:
            self.prompts.append(prompt)
            return str(super().respond(prompt))

    root = RootLM(
        [f"Next step.\n```repl\n{code}\n```" for code in blocks], think_ms=0, think_scale=0
    )
    root.prompts = []
    sub = rlm_loops.ScriptedSubLM(think_ms=0, think_scale=0)
    clients = {"root": root, "sub": sub}

    def get_client(backend: str, backend_kwargs: dict[str, Any]) -> Any:
        return clients[backend_kwargs["model_name"]]

    session = rlm.RLM(
        backend="openai",  # never constructed: get_client is patched
        backend_kwargs={"model_name": "root"},
        other_backends=["openai"],
        other_backend_kwargs=[{"model_name": "sub"}],
        max_iterations=len(blocks) + 1,
        **options,
    )
    with mock.patch.object(rlm_core, "get_client", get_client):
        completion = session.completion(prompt, root_prompt=QUESTION)
    return str(completion.response), root, sub


def run_rlms(ctx: Context) -> tuple[str, Any]:
    """The scripted session through ``rlm.RLM(...).completion``, set up as a user would with
    ``contexts.rlm.rlms_options``; returns the answer and the root model."""
    pytest.importorskip("rlm", reason="the rlms extra is not installed")
    from bench import rlm_loops

    blocks = model_blocks(id(ctx), rlm_loops.SUB_ASK, rlm_loops.SEPARATOR, RLMS_FINISH)
    with mock.patch.object(
        type(ctx), "text", side_effect=AssertionError("text() was called")
    ) as text:
        answer, root, sub = complete_with_rlms(
            blocks, contexts.rlm.PLACEHOLDER, **contexts.rlm.rlms_options(ctx)
        )
    assert text.call_count == 0
    assert sub.calls == -(-LINES // CHUNK)
    return answer, root


def test_rlms_session_answers_the_same_on_s3_as_in_memory(s3_context: Context, corpus: str) -> None:
    opened = s3_context.stats.requests
    on_s3, root = run_rlms(s3_context)
    # the REPL's `context` was this object, before and after rlms restored it between blocks,
    # and the model's reads reached S3 through it
    assert LIVE in root.outputs[0] and LIVE in root.outputs[2]
    assert f"{LINES} lines" in root.outputs[0]
    assert s3_context.stats.requests > opened

    with InMemoryContext(corpus) as memory:
        in_memory, memory_root = run_rlms(memory)
    assert LIVE in memory_root.outputs[0]
    assert on_s3 == in_memory == expected_answer(corpus)


def test_the_prompt_text_reaches_the_rlms_model(corpus: str) -> None:
    with InMemoryContext(corpus) as memory:
        _, root = run_rlms(memory)
    system = root.prompts[0][0]
    assert system["role"] == "system"
    assert contexts.rlm.context_prompt(LINES) in system["content"]
    assert "`len(context)` is the number of LINES" in system["content"]
    assert "- `lab_context`: " in system["content"]  # rlms lists the custom tool


def test_rlms_options_binds_the_object_and_reads_only_its_size(corpus: str) -> None:
    pytest.importorskip("rlm", reason="the rlms extra is not installed")
    with InMemoryContext(corpus) as memory:
        options = contexts.rlm.rlms_options(memory)
        assert options["custom_tools"][contexts.rlm.TOOL_NAME]["tool"] is memory
        assert options["environment_kwargs"] == {"setup_code": contexts.rlm.SETUP_CODE}
        assert memory.stats.requests == 0
        stated = contexts.rlm.rlms_options(memory, lines=7)["custom_system_prompt"]
        assert "(7 lines)" in stated.format(custom_tools_section="")


def test_rlms_options_names_the_extra_when_rlms_is_absent() -> None:
    with (
        mock.patch.dict(sys.modules, {"rlm.utils.prompts": None}),
        pytest.raises(MissingDependencyError, match=r"pip install 'rlm-context-lab\[rlms\]'"),
    ):
        contexts.rlm.rlms_options(InMemoryContext("a\n"))


def test_the_prompt_states_the_size_in_lines() -> None:
    assert "(1 line)" in contexts.rlm.context_prompt(1)
    assert "(12,345 lines)" in contexts.rlm.context_prompt(12_345)
    assert "{" not in contexts.rlm.CONTEXT_PROMPT.replace("{size}", "")
    with pytest.raises(ValueError):
        contexts.rlm.context_prompt(-1)


# -- dspy ------------------------------------------------------------------------------------


class SubLM:
    """The sub-LM behind dspy's ``llm_query``: the bench's scripted sub-LLM, as dspy calls it."""

    def __init__(self) -> None:
        from bench import rlm_loops

        self.scripted = rlm_loops.ScriptedSubLM(think_ms=0, think_scale=0)

    def __call__(self, prompt: str, **_: Any) -> list[str]:
        return [self.scripted.completion(prompt)]


def run_dspy(ctx: Context) -> tuple[str, list[dict[str, Any]], Any]:
    """The scripted session through ``dspy.RLM`` with ``DummyLM`` as the model, set up as a user
    would with ``contexts.rlm.dspy_interpreter``: the answer, the trajectory and the LM."""
    dspy = pytest.importorskip("dspy", reason="the dspy extra is not installed")
    from dspy.utils.dummies import DummyLM

    from bench import rlm_loops

    blocks = model_blocks(id(ctx), rlm_loops.SUB_ASK, rlm_loops.SEPARATOR, "SUBMIT({answer})")
    lm = DummyLM(
        [{"reasoning": "Next step.", "code": f"```python\n{code}\n```"} for code in blocks]
    )
    sub = SubLM()
    program = dspy.RLM(
        "context, query -> answer",
        interpreter_factory=contexts.rlm.dspy_interpreter(ctx),
        sub_lm=sub,
        max_iters=len(blocks),
    )
    with (
        dspy.context(lm=lm),
        mock.patch.object(
            type(ctx), "text", side_effect=AssertionError("text() was called")
        ) as text,
    ):
        result = program(context=contexts.rlm.PLACEHOLDER, query=QUESTION)
    assert text.call_count == 0
    assert sub.scripted.calls == -(-LINES // CHUNK)
    return str(result.answer), list(result.trajectory), lm


def test_dspy_session_answers_the_same_on_s3_as_in_memory(s3_context: Context, corpus: str) -> None:
    opened = s3_context.stats.requests
    on_s3, trajectory, _ = run_dspy(s3_context)
    outputs = [str(step["output"]) for step in trajectory]
    assert LIVE in outputs[0] and LIVE in outputs[2] and "[step 3]" in outputs[2]
    assert f"{LINES} lines" in outputs[0]
    assert s3_context.stats.requests > opened

    with InMemoryContext(corpus) as memory:
        in_memory, memory_trajectory, _ = run_dspy(memory)
    assert LIVE in str(memory_trajectory[0]["output"])
    assert on_s3 == in_memory == expected_answer(corpus)


def test_the_prompt_text_reaches_the_dspy_model(corpus: str) -> None:
    with InMemoryContext(corpus) as memory:
        _, _, lm = run_dspy(memory)
    first = "\n".join(str(message["content"]) for message in lm.history[0]["messages"])
    # DSPy indents the instructions it lays out: every line of the prompt text is there
    assert all(line in first for line in contexts.rlm.context_prompt(LINES).splitlines())
    assert "`len(context)` is the number of LINES" in first


def test_the_dspy_interpreter_keeps_state_and_reports_errors() -> None:
    pytest.importorskip("dspy", reason="the dspy extra is not installed")
    from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreter, FinalOutput

    with InMemoryContext("a\nb\n") as memory:
        factory = contexts.rlm.dspy_interpreter(memory)
        assert not isinstance(factory, CodeInterpreter)  # dspy.RLM refuses an instance
        interpreter = factory()
        assert isinstance(interpreter, CodeInterpreter)
        interpreter.output_fields = [{"name": "answer"}]
        assert interpreter.execute("x = context[1]", {"context": "a placeholder"}) is None
        assert interpreter.execute("print(x, end='')") == "b\n"
        with pytest.raises(CodeExecutionError, match="ZeroDivisionError"):
            interpreter.execute("1 / 0")
        with pytest.raises(SyntaxError):
            interpreter.execute("def")
        caught = "try:\n    SUBMIT(len(context))\nexcept Exception:\n    pass"
        assert interpreter.execute(caught) == FinalOutput({"answer": 2})
        interpreter.shutdown()
        assert not memory.closed


def test_dspy_interpreter_names_the_extra_when_dspy_is_absent() -> None:
    absent = {"dspy": None, "dspy.primitives": None, "dspy.primitives.code_interpreter": None}
    with (
        mock.patch.dict(sys.modules, absent),
        pytest.raises(MissingDependencyError, match=r"pip install 'rlm-context-lab\[dspy\]'"),
    ):
        contexts.rlm.dspy_interpreter(InMemoryContext("a\n"))


# -- the str view ----------------------------------------------------------------------------

PIECE = 60_000
"""Characters per excerpt in the str-view session (cut at the next line end)."""


def str_model_blocks(ctx_id: int, ask: str, sep: str, finish: str) -> tuple[str, ...]:
    """The same session written against a ``str``: character slices, ``find``, ``re`` over
    slices; valid Python for a plain string and for the str view alike."""
    return (
        f"""\
n = len(context)
print("live:", id(context) == {ctx_id})
print(n, "characters"); print(context[:800])
print("[step 1]")""",
        rf"""import re
from collections import Counter
bounds, a = [], 0
while a < n:
    b = context.find("\n", min(a + {PIECE}, n - 1))
    b = n if b < 0 else b + 1
    bounds.append((a, b))
    a = b
error = re.compile(r"Z ERROR \[worker-\d+\] .*{SESSION_ID}")
by_session = Counter(m for a, b in bounds for m in error.findall(context[a:b]))
top_id, top_count = by_session.most_common(1)[0]
print(len(bounds), "excerpts; busiest", top_id, top_count, context.count("Traceback"))
print("[step 2]")""",
        f"""\
import json
replies = llm_query_batched([{ask!r} + {sep!r} + context[a:b] for a, b in bounds])
tracebacks = sum(json.loads(r)["tracebacks"] for r in replies)
print("live:", id(context) == {ctx_id})
print(len(replies), "excerpts,", tracebacks, "tracebacks")
print("[step 3]")""",
        finish.format(answer=ANSWER),
    )


def run_rlms_str(context: StrView | str, ctx_id: int) -> tuple[str, Any]:
    """The str-written session through ``rlm.RLM(...).completion``: over a lab context's str
    view (``rlms_options``), or over a plain string the way rlms takes one."""
    pytest.importorskip("rlm", reason="the rlms extra is not installed")
    from bench import rlm_loops

    blocks = str_model_blocks(ctx_id, rlm_loops.SUB_ASK, rlm_loops.SEPARATOR, RLMS_FINISH)
    if isinstance(context, str):
        answer, root, _ = complete_with_rlms(blocks, context)
    else:
        options = contexts.rlm.rlms_options(context)
        answer, root, _ = complete_with_rlms(blocks, contexts.rlm.PLACEHOLDER, **options)
    return answer, root


def test_rlms_str_view_session_answers_like_a_plain_string(
    s3_context: Context, corpus: str
) -> None:
    view = s3_context.as_str()
    opened = s3_context.stats.requests
    with mock.patch.object(type(s3_context), "text", side_effect=AssertionError("text()")):
        on_s3, root = run_rlms_str(view, id(view))
    assert LIVE in root.outputs[0] and LIVE in root.outputs[2]  # the view itself, not a copy
    assert f"{len(corpus)} characters" in root.outputs[0]
    assert view.char_offsets == "layout" and s3_context.stats.requests > opened
    on_string, string_root = run_rlms_str(corpus, 0)
    assert LIVE not in string_root.outputs[0]
    assert on_s3 == on_string
    assert "logged" in on_s3 and "tracebacks" in on_s3


def test_dspy_str_view_session_answers_like_a_plain_string(
    s3_context: Context, corpus: str
) -> None:
    dspy = pytest.importorskip("dspy", reason="the dspy extra is not installed")
    pytest.importorskip("rlm", reason="the plain-string oracle runs through rlms")
    from dspy.utils.dummies import DummyLM

    from bench import rlm_loops

    view = s3_context.as_str()
    blocks = str_model_blocks(id(view), rlm_loops.SUB_ASK, rlm_loops.SEPARATOR, "SUBMIT({answer})")
    lm = DummyLM(
        [{"reasoning": "Next step.", "code": f"```python\n{code}\n```"} for code in blocks]
    )
    program = dspy.RLM(
        "context, query -> answer",
        interpreter_factory=contexts.rlm.dspy_interpreter(view),  # a StrView: the str view
        sub_lm=SubLM(),
        max_iters=len(blocks),
    )
    opened = s3_context.stats.requests
    with (
        dspy.context(lm=lm),
        mock.patch.object(type(s3_context), "text", side_effect=AssertionError("text()")),
    ):
        result = program(context=contexts.rlm.PLACEHOLDER, query=QUESTION)
    outputs = [str(step["output"]) for step in result.trajectory]
    assert LIVE in outputs[0] and LIVE in outputs[2]
    assert s3_context.stats.requests > opened
    first = "\n".join(str(message["content"]) for message in lm.history[0]["messages"])
    assert "`len(context)` is the number of characters" in first
    on_string, _ = run_rlms_str(corpus, 0)
    assert str(result.answer) == on_string


def test_the_view_option_binds_a_str_view_and_states_characters() -> None:
    pytest.importorskip("rlm", reason="the rlms extra is not installed")
    with InMemoryContext("héllo\nwörld\n") as memory:
        options = contexts.rlm.rlms_options(memory, view="str")
        bound = options["custom_tools"][contexts.rlm.TOOL_NAME]["tool"]
        assert isinstance(bound, contexts.StrView) and bound.lines is memory
        assert "(12 characters)" in options["custom_system_prompt"]
        view = memory.as_str()
        assert contexts.rlm.rlms_options(view)["custom_tools"]["lab_context"]["tool"] is view
        lines = contexts.rlm.rlms_options(view, view="lines")
        assert lines["custom_tools"]["lab_context"]["tool"] is memory
        with pytest.raises(ValueError, match="view must be 'lines' or 'str'"):
            contexts.rlm.rlms_options(memory, view="chars")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="needs a lab Context"):
            contexts.rlm.rlms_options("a plain str")  # type: ignore[arg-type]
    assert "(1 character)" in contexts.rlm.context_prompt(1, view="str")
    assert "{" not in contexts.rlm.STR_CONTEXT_PROMPT.replace("{size}", "")
