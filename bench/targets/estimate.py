"""What a real run will cost, estimated from the layouts' own planners, and its confirmation."""

from __future__ import annotations

import functools
import math
import sys
from array import array
from dataclasses import dataclass
from typing import TextIO

from bench.lower_bound import op_line_ranges
from bench.runner import BenchConfig, cells_of
from contexts import registry
from contexts.auto import (
    HEAD_BYTES,
    LOAD_PART_BYTES,
    LOAD_WORKERS,
    METADATA_COPIES,
    PART_BYTES,
    head_parts,
    load_parts,
)
from contexts.compose import Composition
from contexts.layouts.line_index import LineIndex, build_index, plan_spans
from contexts.layouts.single import DEFAULT_STRIDE, TEXT_NAME
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES
from scenarios import get_scenario
from scenarios.corpus import generate_corpus

_SAMPLE_LINES = 20_000


@dataclass(frozen=True)
class Estimate:
    """What a real run will cost, roughly (an upper bound for caching contexts)."""

    requests: int
    """Uploads, downloads, preflight and cleanup requests."""
    bytes_up: int
    """Bytes uploaded (corpora and layout metadata)."""
    bytes_down: int
    """Bytes downloaded by the cells."""
    objects: int
    """Objects stored under the run prefix."""

    def describe(self) -> str:
        """One line for the confirmation question."""
        return (
            f"~{self.requests:,} requests, ~{_mb(self.bytes_up)} uploaded "
            f"({self.objects:,} objects), ~{_mb(self.bytes_down)} downloaded"
        )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def estimate(config: BenchConfig) -> Estimate:
    """Estimate a real run from the corpus sizes, layouts and scenario traces.

    Bytes per line come from a sample of the corpus; every read is charged whole segments (the
    segments layout) or the GETs the single layout's planner makes of each op's ranges, on an
    index of lines of that size, without caching, so caching and partial-read contexts cost
    less than estimated. Each group's first cell is charged twice (``bench.runner.settle``).
    """
    sample = generate_corpus(min(_SAMPLE_LINES, max(config.lines)), seed=config.seed)
    per_line = len(sample.encode("utf-8")) / max(1, sample.count("\n"))
    requests = 2  # preflight probe: put + delete
    objects = bytes_up = bytes_down = 0
    stored: set[tuple[int, str, int, bool]] = set()
    last_group: tuple[str, str, int] | None = None
    for name, scenario, profile, lines in cells_of(config):
        runs = 1 if (scenario, profile, lines) == last_group else 2  # also runs in settle()
        last_group = (scenario, profile, lines)
        spec = registry.spec(name)
        if spec.storage != "s3":
            continue
        layout = spec.layouts[0]
        write_options = dict(spec.write_options)
        per_segment = int(write_options.get("lines_per_segment", config.segment_lines))
        sidecars = "segment_index_stride" in write_options
        segments = math.ceil(lines / per_segment)
        if (lines, layout, per_segment, sidecars) not in stored:
            stored.add((lines, layout, per_segment, sidecars))
            count = segments * (2 if sidecars else 1) + 1 if layout == "segments" else 2
            objects += count
            requests += count
            bytes_up += int(lines * per_line) + 150 * segments
        cell_requests, cell_bytes = requests, bytes_down
        trace = get_scenario(scenario).sessions(lines, seed=config.seed, count=config.sessions)
        requests += 1  # manifest or index at open
        preloads = isinstance(spec.target, Composition) and spec.target.policy == "ram"
        if preloads:  # everything at open
            requests += segments
            bytes_down += int(lines * per_line)
        elif name == "auto":  # the other metadata, copies of both, segment 1, tail and head
            size = int(lines * per_line)  # parts at open, then the rest in load ranges
            requests += 3 + 2 * (METADATA_COPIES - 1) + len(head_parts(HEAD_BYTES, PART_BYTES))
            loads = load_parts(size, LOAD_PART_BYTES, LOAD_WORKERS, HEAD_BYTES)
            requests += sum(1 for _start, stop in loads if stop > HEAD_BYTES)
            bytes_down += size
        if layout == "segments":
            for op in trace.ops:
                for first, stop in op_line_ranges(op, lines):
                    touched = (stop - 1) // per_segment - first // per_segment + 1
                    requests += touched
                    bytes_down += int(touched * per_segment * per_line)
        else:  # the layout's own planner, on an index of lines of the sample's mean size
            index = uniform_index(lines, per_line)
            for op in trace.ops:
                spans = [index.span(first, stop) for first, stop in op_line_ranges(op, lines)]
                groups, _ = plan_spans(
                    spans, coalesce_bytes=DEFAULT_COALESCE_BYTES, part_bytes=DEFAULT_PART_BYTES
                )
                requests += sum(len(group.parts) for group in groups)
                bytes_down += sum(group.byte_stop - group.fetch_start for group in groups)
        requests += (runs - 1) * (requests - cell_requests)
        bytes_down += (runs - 1) * (bytes_down - cell_bytes)
    requests += 2 * math.ceil(objects / 1000)  # cleanup: list + delete_objects per 1000
    return Estimate(requests, bytes_up, bytes_down, objects)


@functools.lru_cache(maxsize=8)
def uniform_index(lines: int, per_line: float) -> LineIndex:
    """A line index of ``lines`` lines of ``per_line`` bytes each (for planning, not reading)."""
    starts = array("q", (round(number * per_line) for number in range(lines + 1)))
    return build_index(starts, object_name=TEXT_NAME, stride=DEFAULT_STRIDE)


def confirm(question: str, *, yes: bool, stdin: TextIO | None = None) -> None:
    """Ask ``question`` on a terminal; exit unless answered yes. Never waits on a pipe."""
    if yes:
        return
    stdin = stdin if stdin is not None else sys.stdin
    if stdin is None or not stdin.isatty():
        raise SystemExit(
            "ctxlab bench: refusing a real-bucket run without confirmation: stdin is not a "
            "terminal; pass --yes to confirm non-interactively"
        )
    print(f"{question} [y/N] ", end="", flush=True)
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise SystemExit("ctxlab bench: cancelled; nothing was uploaded")
