"""Named scenarios: deterministic trace generators, each modelling one RLM behaviour."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scenarios.trace import Len, Op, Read, Think, Trace

Generator = Callable[[int, int, float], tuple[Op, ...]]


@dataclass(frozen=True)
class Scenario:
    """A name, the RLM behaviour it models, and a generator of ops for a context length."""

    name: str
    """Registry name (``head-50k``)."""
    behaviour: str
    """What an RLM does that this scenario reproduces."""
    generate_ops: Generator
    """``(lines, seed, think_ms) -> ops``."""
    think_ms: float = 0.0
    """Default think pause between steps (simulated LLM latency)."""

    def trace(self, lines: int, *, seed: int = 0, think_ms: float | None = None) -> Trace:
        """The trace for a context of ``lines`` lines (deterministic in all arguments)."""
        think = self.think_ms if think_ms is None else think_ms
        ops = self.generate_ops(lines, seed, think)
        return Trace(self.name, ops, {"lines": lines, "seed": seed, "think_ms": think})


def _peek(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    return (Len(), Read(0, 100), Read(-100, None))


def _head_50k(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    return (Read(0, 50_000),)


def _linear_scan(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    ops: list[Op] = [Len()]
    chunk = 5_000
    for start in range(0, lines, chunk):
        if start:
            ops.append(Think(think_ms))
        ops.append(Read(start, min(lines, start + chunk)))
    return tuple(ops)


def _reread(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    middle = lines // 2
    return (
        Read(0, 50_000),
        Think(think_ms),
        Read(0, 50_000),
        Read(middle, middle + 100),
        Think(think_ms),
        Read(middle, middle + 100),
    )


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "peek",
            "the first move of every RLM: len(context), then the first and last 100 lines",
            _peek,
        ),
        Scenario(
            "head-50k",
            "context[0:50000] on a cold context: the seed notes' 50 sequential GETs",
            _head_50k,
        ),
        Scenario(
            "linear-scan",
            "chunk the whole context 5,000 lines at a time, thinking (sub-LLM call) between chunks",
            _linear_scan,
            think_ms=2_000.0,
        ),
        Scenario(
            "reread",
            "the RLM looks again: ctx[0:50000] and a 100-line window, each read cold then warm",
            _reread,
            think_ms=2_000.0,
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ``KeyError`` lists the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
