"""RLM access patterns as data: traces of ops, and named scenarios that generate them."""

from scenarios.library import SCENARIOS, Scenario, get_scenario
from scenarios.trace import Batch, Grep, Index, Iter, Len, Op, Read, Text, Think, Trace

__all__ = [
    "SCENARIOS",
    "Batch",
    "Grep",
    "Index",
    "Iter",
    "Len",
    "Op",
    "Read",
    "Scenario",
    "Text",
    "Think",
    "Trace",
    "get_scenario",
]
