"""RLM access patterns as data: traces of ops, and named scenarios that generate them."""

from contexts.policies.recording import RecordingContext, trace_from_events
from scenarios.library import RECORDED, SCENARIOS, FileScenario, Scenario, get_scenario
from scenarios.trace import Batch, Grep, Index, Iter, Len, Op, Read, Text, Think, Trace

__all__ = [
    "RECORDED",
    "SCENARIOS",
    "Batch",
    "FileScenario",
    "Grep",
    "Index",
    "Iter",
    "Len",
    "Op",
    "Read",
    "RecordingContext",
    "Scenario",
    "Text",
    "Think",
    "Trace",
    "get_scenario",
    "trace_from_events",
]
