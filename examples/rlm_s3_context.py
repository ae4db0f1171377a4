"""An RLM runtime answering a question over a lab context on S3: rlms or dspy.RLM.

The context is line-sliceable and lazy: ``context[0:100]`` fetches only the segments it needs,
and the runtime gets the live object, never a copy of the text. Each runtime takes it through
its own extension point (``contexts.rlm``), which also tells the model what ``context`` is:

* rlms: ``rlm.RLM(..., **contexts.rlm.rlms_options(ctx))``, then ``.completion(...)``;
* dspy: ``dspy.RLM("context, query -> answer", interpreter_factory=contexts.rlm.dspy_interpreter(ctx))``.

    python examples/rlm_s3_context.py                        # rlms, scripted models, embedded moto
    python examples/rlm_s3_context.py --runtime dspy         # the same session through dspy.RLM
    python examples/rlm_s3_context.py s3://bucket/run-42/ --model gpt-4o-mini      # a real model
    python examples/rlm_s3_context.py --runtime dspy --model openai/gpt-4o-mini --record t.jsonl

Without ``--model`` the models are the scripted ones of ``bench/rlm_loops.py`` (no API key, no
network: the session the bench records). ``--model`` is an rlms OpenAI model name, or a DSPy
model string (``provider/name``), with that provider's API key in the environment. Without a
URL a moto server starts on 127.0.0.1 (extra ``server``) holding a generated 5,000-line corpus.
``--record`` wraps the context in a RecordingContext and writes the trace (replay it with
``ctxlab replay t.jsonl``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import contexts
import contexts.rlm
from contexts import Context, RecordingContext

QUESTION = (
    "Which session logged the most ERROR lines? Give its session id and the count, the "
    "exceptions its tracebacks end with, and the most common exception across the whole "
    "transcript."
)


def ask_rlms(ctx: Context, question: str, model: str, sub_model: str | None = None) -> str:
    """rlms's own loop, ``RLM.completion``, with ``ctx`` as the REPL's ``context``."""
    import rlm

    session = rlm.RLM(
        backend="openai",
        backend_kwargs={"model_name": model},
        other_backends=["openai"],  # llm_query / llm_query_batched go to the sub-model
        other_backend_kwargs=[{"model_name": sub_model or model}],
        **contexts.rlm.rlms_options(ctx),
    )
    return str(session.completion(contexts.rlm.PLACEHOLDER, root_prompt=question).response)


def ask_dspy(ctx: Context, question: str, lm: Any, sub_lm: Any = None) -> str:
    """DSPy's ``dspy.RLM`` with ``ctx`` bound as ``context`` in the lab's interpreter."""
    import dspy

    program = dspy.RLM(
        "context, query -> answer",
        interpreter_factory=contexts.rlm.dspy_interpreter(ctx),
        sub_lm=sub_lm,
    )
    with dspy.context(lm=lm):
        return str(program(context=contexts.rlm.PLACEHOLDER, query=question).answer)


def ask_scripted(ctx: Context, runtime: str) -> str:
    """The same calls with the bench's scripted models in place of real ones."""
    from bench import rlm_loops

    script = rlm_loops.SessionScript(chunk_lines=1_000)
    sub = rlm_loops.ScriptedSubLM(think_ms=0, think_scale=0)
    if runtime == "dspy":
        root = rlm_loops.DspyRootLM(script.dspy_turns(), think_ms=0, think_scale=0)
        return ask_dspy(ctx, QUESTION, rlm_loops.dspy_lm(root), rlm_loops.dspy_lm(sub))
    # rlms builds its clients from backend names: hand it the scripted ones by model name
    clients = {"root": rlm_loops.ScriptedRootLM(script.turns(), think_ms=0, think_scale=0)}
    clients["sub"] = sub
    with mock.patch("rlm.core.rlm.get_client", lambda _, kwargs: clients[kwargs["model_name"]]):
        return ask_rlms(ctx, QUESTION, "root", "sub")


@contextmanager
def demo_bucket() -> Iterator[tuple[str, str]]:
    """A moto server on 127.0.0.1 holding a generated 5,000-line corpus: ``(url, endpoint)``."""
    from moto.server import ThreadedMotoServer

    from bench.network.aws_env import use_local_aws_env
    from scenarios.corpus import generate_corpus

    use_local_aws_env()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="demo")
        url = "s3://demo/ctx/"
        contexts.write_layout(generate_corpus(5_000, seed=0), url, endpoint_url=endpoint)
        yield url, endpoint
    finally:
        server.stop()


def run(
    url: str,
    endpoint_url: str | None,
    *,
    runtime: str = "rlms",
    model: str | None = None,
    sub_model: str | None = None,
    record: str | None = None,
) -> str:
    """Open the context, ask the question through ``runtime``, print the answer and what the
    session cost the storage; returns the answer."""
    options = {"endpoint_url": endpoint_url} if endpoint_url else {}
    context: Context = contexts.open_context("s3-threaded", url, **options)
    if record:
        context = RecordingContext(context, record, trace_name=f"{runtime}-example")
    with context:
        if model is None:
            answer = ask_scripted(context, runtime)
        elif runtime == "dspy":
            import dspy

            sub_lm = dspy.LM(sub_model) if sub_model else None
            answer = ask_dspy(context, QUESTION, dspy.LM(model), sub_lm)
        else:
            answer = ask_rlms(context, QUESTION, model, sub_model)
        print(f"answer: {answer}")
        print(f"stats: {context.stats}")
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="s3:// prefix written by contexts.write_layout")
    parser.add_argument("--endpoint-url", help="S3 endpoint (MinIO, moto, ...)")
    parser.add_argument("--runtime", choices=("rlms", "dspy"), default="rlms")
    parser.add_argument("--model", help="a real root model (default: the scripted models)")
    parser.add_argument("--sub-model", help="model behind llm_query (default: --model)")
    parser.add_argument("--record", help="also write the run as a trace file")
    args = parser.parse_args()
    options = {"runtime": args.runtime, "model": args.model, "sub_model": args.sub_model}
    if args.url:
        run(args.url, args.endpoint_url, record=args.record, **options)
        return
    with demo_bucket() as (url, endpoint):
        run(url, endpoint, record=args.record, **options)


if __name__ == "__main__":
    main()
