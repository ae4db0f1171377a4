"""Run a lab context in the rlms runtime (``pip install 'rlm-context-lab[rlms]'``)::

    rlm = RLM(backend="openai", backend_kwargs={...}, **contexts.rlm.rlms_options(ctx))
    rlm.completion(contexts.rlm.PLACEHOLDER, root_prompt=question)

rlms cannot take a lab context as the prompt (``RLM.completion`` serialises it: ``TypeError``)
nor as ``custom_tools["context"]`` (a reserved name: ``ValueError``). So the live object goes
in by reference as the custom tool :data:`TOOL_NAME`, and ``environment_kwargs["setup_code"]``
binds it as ``context`` and ``context_0`` (rlms restores ``context`` from ``context_0`` after
every block). The prompt text reaches the model through ``custom_system_prompt``: rlms's own
system prompt with :func:`contexts.rlm.prompt.context_prompt` appended. ``view="str"`` binds
the str view (:class:`contexts.StrView`: characters as the unit) instead of the line context.
"""

from __future__ import annotations

from typing import Any

from contexts.base import Context
from contexts.char_view import StrView
from contexts.errors import MissingDependencyError
from contexts.rlm.prompt import View, bind_view, context_prompt, size_of

TOOL_NAME = "lab_context"
"""The custom-tool name the live context travels under (``context`` itself is reserved)."""
SETUP_CODE = f"context_0 = context = {TOOL_NAME}"
"""Run by the REPL before the first block: the live lab context becomes ``context``."""
TOOL_DESCRIPTION = "the same text as `context` (see `context` below)"
"""How the custom tool is listed in rlms's system prompt."""
PLACEHOLDER = "(a line-addressed lab context, bound in the REPL as `context`)"
"""The ``prompt`` to pass to ``RLM.completion``: rlms copies it into the REPL as ``context_0``
before ``setup_code`` replaces it with the live context, so it is all the runtime copies."""


def rlms_system_prompt(size: int, *, view: View = "lines") -> str:
    """rlms's default system prompt with the prompt text for a context of ``size`` lines (or
    characters, for the str view) appended, escaped for the ``str.format`` rlms applies to it."""
    try:
        from rlm.utils.prompts import RLM_SYSTEM_PROMPT
    except ImportError as exc:
        raise MissingDependencyError(
            "running a context in rlms needs the rlms package: pip install 'rlm-context-lab[rlms]'"
        ) from exc
    extra = context_prompt(size, view=view).replace("{", "{{").replace("}", "}}")
    return f"{RLM_SYSTEM_PROMPT.rstrip()}\n\n{extra}\n"


def rlms_options(
    ctx: Context | StrView,
    *,
    view: View | None = None,
    lines: int | None = None,
    chars: int | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``rlm.RLM(...)`` that bind ``ctx`` (the live object, never a copy)
    as the LocalREPL's ``context`` and tell the model what it is.

    ``view``: ``"lines"`` (default for a context) or ``"str"`` (a :class:`StrView` over it;
    the default when ``ctx`` is one). ``lines`` / ``chars`` is the size written into the prompt
    (``len`` of the bound object when not given; pass it to keep that read out of a recording).
    Merge your own ``custom_tools`` or ``environment_kwargs`` into the returned dicts rather
    than passing them again."""
    bound, chosen = bind_view(ctx, view)
    size = size_of(bound, lines if chosen == "lines" else chars)
    return {
        "environment": "local",
        "environment_kwargs": {"setup_code": SETUP_CODE},
        "custom_tools": {TOOL_NAME: {"tool": bound, "description": TOOL_DESCRIPTION}},
        "custom_system_prompt": rlms_system_prompt(size, view=chosen),
    }
