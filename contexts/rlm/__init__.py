"""Lab contexts inside RLM runtimes: the prompt text and the runtimes' extension points.

``contexts.rlm.rlms_options(ctx)`` gives the ``rlm.RLM(...)`` keyword arguments for rlms, and
``contexts.rlm.dspy_interpreter(ctx)`` the ``interpreter_factory`` for ``dspy.RLM``; the runtimes
themselves are optional packages, imported only when used. Either takes ``view="str"`` to bind
the str view (characters as the unit, :class:`contexts.StrView`) instead of the line context.
"""

from __future__ import annotations

from contexts.rlm.dspy_rlm import LabInterpreter, LabInterpreterFactory, dspy_interpreter
from contexts.rlm.prompt import CONTEXT_PROMPT, STR_CONTEXT_PROMPT, VIEWS, View, context_prompt
from contexts.rlm.rlms import PLACEHOLDER, SETUP_CODE, TOOL_NAME, rlms_options, rlms_system_prompt

__all__ = [
    "CONTEXT_PROMPT",
    "PLACEHOLDER",
    "SETUP_CODE",
    "STR_CONTEXT_PROMPT",
    "TOOL_NAME",
    "VIEWS",
    "LabInterpreter",
    "LabInterpreterFactory",
    "View",
    "context_prompt",
    "dspy_interpreter",
    "rlms_options",
    "rlms_system_prompt",
]
