"""RLM code using a lab context as its ``context`` variable, inside the rlms ``LocalREPL``.

The RLM authors' REPL (``pip install 'rlm-context-lab[rlms]'``) normally copies a string into
``context``; here ``context`` is a line-sliceable lab context over S3, so ``context[0:100]``
fetches only the segments it needs. The model's code is unchanged: ``len(context)``,
``context[a:b]``, ``context[-5:]``, ``re.findall(..., context.text())``, chunk loops.

    python examples/rlm_s3_context.py                               # embedded moto server
    python examples/rlm_s3_context.py s3://bucket/run-42/ [--endpoint-url URL] [--record t.jsonl]

Without a URL it starts a moto server on 127.0.0.1 (extra ``server``) and writes a generated
corpus there first. ``--record`` wraps the context in a RecordingContext and writes the trace
(replay it with ``ctxlab replay t.jsonl``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import contexts
from contexts import Context, RecordingContext

MODEL_CODE = (
    "print(len(context))",
    "print(context[0:100][:300])",
    "print(context[-5:], end='')",
    "import re\nerrors = re.findall(r'ERROR .*', context.text())\nprint(len(errors), errors[:2])",
    "sizes = []\nfor a in range(0, len(context), 1000):\n    sizes.append(len(context[a:a + 1000]))\n"
    "print(sizes)",
)
"""What a model writes in its ``repl`` blocks (run one block per ``execute_code``)."""


def repl_with_context(context: Context) -> Any:
    """A ``LocalREPL`` whose ``context`` (and ``context_0``, which it restores ``context`` from
    after every block) is the lab context — no copy of the text is made."""
    from rlm.environments import LocalREPL

    repl = LocalREPL()
    repl.locals["context_0"] = repl.locals["context"] = context
    return repl


@contextmanager
def demo_bucket() -> Iterator[tuple[str, str]]:
    """A moto server on 127.0.0.1 holding a generated 5,000-line corpus: ``(url, endpoint)``."""
    from moto.server import ThreadedMotoServer

    from bench.corpus import generate_corpus
    from bench.network.aws_env import use_local_aws_env

    use_local_aws_env()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the REPL's stderr
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


def run(url: str, endpoint_url: str | None, record: str | None) -> None:
    """Open the context, run the model's blocks through the REPL, print what the model sees."""
    options = {"endpoint_url": endpoint_url} if endpoint_url else {}
    context: Context = contexts.open_context("s3-threaded", url, **options)
    if record:
        context = RecordingContext(context, record, trace_name="rlm-s3-example")
    with context:
        repl = repl_with_context(context)
        for code in MODEL_CODE:
            result = repl.execute_code(code)
            print(f">>> {code.splitlines()[0]}\n{result.stdout}{result.stderr}")
        print(f"stats: {context.stats}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="s3:// prefix written by contexts.write_layout")
    parser.add_argument("--endpoint-url", help="S3 endpoint (MinIO, moto, ...)")
    parser.add_argument("--record", help="also write the run as a trace file")
    args = parser.parse_args()
    if args.url:
        run(args.url, args.endpoint_url, args.record)
        return
    with demo_bucket() as (url, endpoint):
        run(url, endpoint, args.record)


if __name__ == "__main__":
    main()
