"""What the completeness tests of the conformance suites share: the classes ``contexts``
defines, and the classes a test module's suites cover."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping

import contexts


def classes_in_contexts(keep: Callable[[type], bool]) -> set[type]:
    """Every class defined in a ``contexts`` module (each imported) that ``keep`` accepts; the
    RLM runtimes' adapters are skipped (optional dependencies, no storage)."""
    found: set[type] = set()
    for info in pkgutil.walk_packages(contexts.__path__, "contexts."):
        if info.name.startswith("contexts.rlm"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and keep(cls):
                found.add(cls)
    return found


def covered(namespace: Mapping[str, object], suite: type) -> set[type]:
    """The classes named by ``covers`` of the subclasses of ``suite`` in ``namespace``."""
    return {
        getattr(test, "covers")  # noqa: B009 - checked by hasattr just below
        for test in namespace.values()
        if isinstance(test, type) and issubclass(test, suite) and hasattr(test, "covers")
    }
