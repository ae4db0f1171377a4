"""Run a lab context in DSPy's ``dspy.RLM`` (``pip install 'rlm-context-lab[dspy]'``)::

    rlm = dspy.RLM("context, query -> answer", interpreter_factory=contexts.rlm.dspy_interpreter(ctx))
    rlm(context=contexts.rlm.PLACEHOLDER, query=question).answer

``dspy.RLM`` takes a zero-argument ``interpreter_factory`` (an interpreter instance is refused:
its ownership would be ambiguous) and reads the factory's ``execution_instructions`` into the
action prompt: that is where the prompt text goes. :class:`LabInterpreter` runs the model's
code in this process, as rlms's LocalREPL does, with the live context bound as ``context``
after the call's variables (so the placeholder the caller passes is never what the code sees).
``view="str"`` binds the str view (:class:`contexts.StrView`) instead of the line context.
"""

from __future__ import annotations

import contextlib
import io
import traceback
from collections.abc import Callable
from typing import Any

from contexts.base import Context
from contexts.char_view import StrView
from contexts.errors import MissingDependencyError
from contexts.rlm.prompt import View, bind_view, context_prompt, size_of

_PIP = "pip install 'rlm-context-lab[dspy]'"


def _require_dspy() -> None:
    try:
        import dspy.primitives.code_interpreter  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"running a context in dspy.RLM needs dspy: {_PIP}") from exc


class _Submitted(BaseException):
    """Raised by ``SUBMIT(...)`` to end the block (a BaseException: model code catching
    ``Exception`` does not swallow it)."""

    def __init__(self, output: dict[str, Any]) -> None:
        super().__init__("SUBMIT")
        self.output = output


class LabInterpreter:
    """A DSPy ``CodeInterpreter`` running code in this process, state kept across blocks, with
    ``ctx`` (the live object, never a copy) bound as ``name``. Not a sandbox."""

    def __init__(self, ctx: Context | StrView, *, name: str = "context") -> None:
        _require_dspy()
        self.context = ctx
        self.name = name
        self.tools: dict[str, Callable[..., Any]] = {}
        """Host functions the code may call (``dspy.RLM`` adds ``llm_query`` and friends)."""
        self.output_fields: list[dict[str, Any]] | None = None
        """Set by ``dspy.RLM``: the names ``SUBMIT`` maps positional arguments to."""
        self.namespace: dict[str, Any] = {}

    def start(self) -> None:
        """Nothing to allocate: the namespace is a dict in this process."""

    def shutdown(self) -> None:
        """Drop the session's state (the context stays open: its owner closes it)."""
        self.namespace.clear()

    def _submit(self, *args: Any, **kwargs: Any) -> None:
        names = [str(field["name"]) for field in self.output_fields or []]
        if len(args) > len(names):
            raise TypeError(f"SUBMIT takes at most {len(names)} positional arguments ({names})")
        raise _Submitted({**dict(zip(names, args, strict=False)), **kwargs})

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        """Run ``code``: its stdout, or ``FinalOutput`` when it called ``SUBMIT``. Errors in the
        code raise ``CodeExecutionError`` (``SyntaxError`` as itself), as DSPy expects."""
        from dspy.primitives.code_interpreter import CodeExecutionError, FinalOutput

        compiled = compile(code, "<repl>", "exec")  # a SyntaxError propagates, as DSPy expects
        self.namespace.update(self.tools)
        self.namespace.update(variables or {})
        self.namespace[self.name] = self.context
        self.namespace["SUBMIT"] = self._submit
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compiled, self.namespace)
        except _Submitted as done:
            return FinalOutput(done.output)
        except Exception as exc:
            trace = traceback.format_exc(limit=-3)
            raise CodeExecutionError(f"{out.getvalue()}{trace}") from exc
        return out.getvalue() or None


class LabInterpreterFactory:
    """The ``interpreter_factory`` for ``dspy.RLM``: a fresh :class:`LabInterpreter` per call,
    all over the same context, and the prompt text as ``execution_instructions``."""

    def __init__(
        self,
        ctx: Context | StrView,
        *,
        view: View | None = None,
        lines: int | None = None,
        chars: int | None = None,
        name: str = "context",
    ) -> None:
        _require_dspy()
        self.context, self.view = bind_view(ctx, view)
        self.name = name
        size = size_of(self.context, lines if self.view == "lines" else chars)
        self.execution_instructions = (
            "Code runs as Python in this process (not a sandbox); state persists across blocks. "
            "Host tools and SUBMIT are global functions.\n" + context_prompt(size, view=self.view)
        )
        """What ``dspy.RLM`` adds to the action prompt."""

    def __call__(self) -> LabInterpreter:
        return LabInterpreter(self.context, name=self.name)


def dspy_interpreter(
    ctx: Context | StrView,
    *,
    view: View | None = None,
    lines: int | None = None,
    chars: int | None = None,
) -> LabInterpreterFactory:
    """The ``interpreter_factory=`` for ``dspy.RLM`` that binds ``ctx`` (or, with
    ``view="str"``, a :class:`StrView` over it) as ``context``."""
    return LabInterpreterFactory(ctx, view=view, lines=lines, chars=chars)
