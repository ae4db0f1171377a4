"""The bench runner end to end on the embedded server: results JSON, oracle checks, failures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import pytest

import contexts
from bench.bench_command import QUICK_BUDGET
from bench.cli import main
from bench.network import FaultKind
from bench.oracle import LineListOracle, iteration_digest
from bench.results import SCHEMA, SCHEMA_VERSION, CellResult, OpRecord, RunResults, load_results
from bench.runner import BenchConfig, cells_of, network_changes, run_bench, warm_up
from contexts import registry
from contexts.policies.wrapper import WrappedContext
from scenarios import Batch, Len, Read, Trace, get_scenario


class _OverSequential(WrappedContext):
    """A test double over ``s3-sequential``, opened by URL like a registered class."""

    @classmethod
    def open(cls, url: str, **options: Any) -> Self:
        return cls(registry.open_context("s3-sequential", url, **options))


class OffByOneContext(_OverSequential):
    """A context with a classic bug: slices silently lose their last character."""

    name = "broken-off-by-one"

    def _read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[str]:
        return [text[:-1] for text in super()._read_ranges(ranges)]


class FailingContext(_OverSequential):
    """A context whose reads raise: the cell fails with an error, not a wrong answer."""

    name = "broken-raises"

    def _read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[str]:
        raise contexts.StorageError("simulated outage")


@pytest.fixture
def failing_context(monkeypatch: pytest.MonkeyPatch) -> str:
    spec = registry.ContextSpec(
        FailingContext.name, f"{__name__}:FailingContext", "raises", "s3", ("segments",)
    )
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    return spec.name


@pytest.fixture
def broken_context(monkeypatch: pytest.MonkeyPatch) -> str:
    spec = registry.ContextSpec(
        OffByOneContext.name,
        f"{__name__}:OffByOneContext",
        "test double that returns wrong answers",
        storage="s3",
        layouts=("segments",),
    )
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    return spec.name


@pytest.mark.timeout(180)
def test_faulty_cells_report_faults_retries_errors_and_wrong_answers(tmp_path: Path) -> None:
    profile = tmp_path / "harsh.json"
    profile.write_text(
        json.dumps(
            {
                "extends": "faulty",
                "first_byte": {"fixed_ms": 0},
                "faults": {"slowdown": 0.1, "reset": 0.1, "truncate": 0.1, "short_body": 0.1},
            }
        )
    )
    config = BenchConfig(
        contexts=("s3-sequential", "s3-threaded"),
        scenarios=("head-50k", "linear-scan"),
        profiles=(str(profile),),
        lines=(3_000,),
        out=tmp_path,
        segment_lines=100,
        think_scale=0.0,
    )
    results = run_bench(config)
    for cell in results.cells:
        assert cell.wrong_answers == 0 and cell.correct
        assert cell.faults_expected and set(cell.faults) == {kind.value for kind in FaultKind}
        assert cell.errors == sum(op.error is not None for op in cell.ops)
        assert cell.status == ("ok" if cell.error is None else "failed")
    assert sum(sum(cell.faults.values()) for cell in results.cells) > 0
    assert sum(cell.retries for cell in results.cells) > 0
    raw = json.loads((tmp_path / "results.json").read_text())
    assert {"faults", "retries", "errors", "wrong_answers"} <= set(raw["cells"][0])


@pytest.mark.timeout(180)
def test_bench_cells_end_to_end(tmp_path: Path, broken_context: str, failing_context: str) -> None:
    config = BenchConfig(
        contexts=("memory", "s3-sequential", broken_context, failing_context),
        scenarios=("peek", "head-50k"),
        profiles=("none",),
        lines=(2_500,),
        out=tmp_path,
        segment_lines=1000,
    )
    results = run_bench(config)
    cells = {(cell.context, cell.scenario): cell for cell in results.cells}
    assert len(cells) == 8

    head_key = ("s3-sequential", "head-50k")
    head = cells[head_key]
    assert head.status == "ok" and head.correct and head.error is None
    assert head.open_requests == 1 and head.requests == 1 + 3  # manifest + 3 segments
    assert head.bytes >= head.bytes_returned > 0
    assert [op.kind for op in head.ops] == ["read"] and head.ops[0].correct
    assert head.total_s == pytest.approx(head.open_s + head.ops[0].latency_s + head.think_s)
    assert head.stall_s == pytest.approx(head.total_s - head.think_s)
    assert head.scenario_version == get_scenario("head-50k").trace(2_500).version
    assert (head.ops[0].lines, head.ops[0].bytes) == (2_500, head.bytes_returned)
    assert head.lower_bound_s == 0.0 and head.ratio is None  # profile none: nothing to wait for
    # ... but every byte still has to come through this machine's server, at its measured
    # ceiling: the physical limit of reading the whole corpus on `none` (no latency) is
    # corpus bytes / ceiling.
    ceiling = results.meta["ceiling_bytes_per_s"]
    assert ceiling is not None and ceiling > 0 and results.meta["ceiling"]["error"] is None
    corpus_bytes = results.meta["corpora"][0]["bytes"]
    assert head.physical_limit_s == pytest.approx(corpus_bytes / ceiling)
    assert head.physical_ratio == pytest.approx(head.total_s / head.physical_limit_s)

    peek = cells[("memory", "peek")]
    assert peek.status == "ok" and peek.requests == 0 and len(peek.ops) == 3
    # the oracle reads no server: no ceiling, both bounds are its think time
    assert peek.physical_limit_s == peek.lower_bound_s

    for scenario in ("peek", "head-50k"):
        broken = cells[(broken_context, scenario)]
        assert broken.status == "failed" and not broken.correct
        assert "wrong answer" in (broken.error or "")
    raising = cells[(failing_context, "head-50k")]
    assert raising.status == "failed" and raising.correct  # an error, not a wrong answer
    assert raising.error == "StorageError: simulated outage"
    assert raising.open_requests == 1 and raising.errors == 1 and raising.wrong_answers == 0
    assert [(op.kind, op.correct, op.error) for op in raising.ops] == [
        ("read", False, "StorageError")
    ]  # the named error is recorded; without injected faults it fails the cell
    assert head.faults == {kind.value: 0 for kind in FaultKind} and head.retries == 0

    raw = json.loads((tmp_path / "results.json").read_text())
    assert raw["schema"] == SCHEMA and raw["schema_version"] == SCHEMA_VERSION
    assert raw["run"]["profiles"]["none"]["name"] == "none"
    assert raw["run"]["corpora"][0]["lines"] == 2_500
    (raw_head,) = (c for c in raw["cells"] if (c["context"], c["scenario"]) == head_key)
    assert (raw_head["physical_limit_s"], raw_head["physical_ratio"]) == (
        head.physical_limit_s,
        head.physical_ratio,
    )
    assert raw["run"]["ceiling_bytes_per_s"] == ceiling
    assert load_results(tmp_path / "results.json").cells == results.cells


@pytest.mark.timeout(180)
def test_think_time_is_scaled_and_not_stall(tmp_path: Path) -> None:
    config = BenchConfig(
        contexts=("memory",),
        scenarios=("linear-scan",),
        profiles=("none",),
        lines=(15_000,),
        out=tmp_path,
        think_scale=0.05,  # 2 pauses x 2 s x 0.05 = 0.2 s
    )
    (cell,) = run_bench(config).cells
    assert cell.status == "ok"
    assert cell.think_s >= 0.2  # slept at least the scaled pauses (a busy machine only adds)
    assert cell.stall_s == pytest.approx(cell.total_s - cell.think_s)


def test_unknown_names_fail_before_any_work(tmp_path: Path) -> None:
    config = BenchConfig(("nope",), ("peek",), ("none",), (10,), tmp_path)
    with pytest.raises(LookupError, match="nope"):
        run_bench(config)
    assert not (tmp_path / "results.json").exists()


def test_trace_round_trips_as_json_lines(tmp_path: Path) -> None:
    trace = Trace("t", (Len(), Read(0, 5), Batch((Read(1, 2), Read(None, -1)))), {"lines": 9})
    trace.save(tmp_path / "t.jsonl")
    loaded = Trace.load(tmp_path / "t.jsonl")
    assert loaded == trace and loaded.version == trace.version
    assert Trace("t", (Read(0, 6),)).version != trace.version


@pytest.mark.timeout(240)
def test_quick_cli_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Every registered context through the quick bench, on the scenario that is quick for all
    # of them; then the cells the quick budget cuts, on three.
    status = main(["bench", "--quick", "--scenarios", "peek", "--out", str(tmp_path / "all")])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "bench summary" in output and "results:" in output
    assert "report:" in output and (tmp_path / "all" / "report.md").stat().st_size > 0
    results = load_results(tmp_path / "all" / "results.json")
    assert {cell.context for cell in results.cells} == set(contexts.available())
    # Directory contexts do not go through the simulated network and say so.
    assert {cell.profile for cell in results.cells} == {"seed", "local-disk"}
    assert {c.context for c in results.cells if c.profile == "local-disk"} == {"volume"}
    assert all(cell.status == "ok" and cell.correct for cell in results.cells)
    # The quick budget is a bench figure: recorded, and every cell within it (counted).
    assert results.meta["budget"] == QUICK_BUDGET.to_dict() and results.meta["wall_s"] > 0
    assert all(len(cell.ops) <= 200 for cell in results.cells)

    head = ["--scenarios", "head-50k", "--contexts", "memory,s3-sequential,auto"]
    status = main(["bench", "--quick", *head, "--out", str(tmp_path / "head"), "--no-report"])
    output = capsys.readouterr().out
    assert status == 0, output
    results = load_results(tmp_path / "head" / "results.json")
    assert all(cell.status == "ok" and cell.correct for cell in results.cells)
    sequential = next(c for c in results.cells if c.context == "s3-sequential")
    # 20 segment GETs one after another under a 150 ms profile need at least 3 s: the 1 s
    # budget stops the cell (mid-op, or before it if the open was slow), so fewer than the 21
    # requests of a whole head went out.
    assert sequential.truncated and sequential.requests < 21 and sequential.ops == []
    for cell in results.cells:
        if cell.context != "memory":
            # one 150 ms round trip (unlimited bandwidth), or nothing for a cut cell
            assert cell.lower_bound_s == pytest.approx(0.0 if cell.truncated else 0.150), cell
            assert cell.truncated or (cell.ratio is not None and cell.ratio >= 1)


def test_iteration_digest_sees_misplaced_line_breaks() -> None:
    assert iteration_digest(["x", "\ny\n"]) != iteration_digest(["x\n", "y\n"])
    assert iteration_digest(["é\n"])[:2] == (1, 3)


def test_oracle_is_a_plain_list_of_lines() -> None:
    oracle = LineListOracle("a\r\nb\u2028c\n\nlast")
    assert oracle.lines == ["a\r\n", "b\u2028c\n", "\n", "last"]
    assert oracle.read(-2, None) == "\nlast" and oracle.index(9) is IndexError
    assert oracle.grep("^$") == [(2, "\n")] == oracle.grep("^\n")


def test_quantiles_interpolate_and_clamp() -> None:
    cell = CellResult("c", "s", "v", "p", 1, ops=[OpRecord("read", x, True) for x in (4, 1, 3, 2)])
    assert cell.quantile(0.0) == 1 and cell.quantile(1.0) == 4 and cell.quantile(0.5) == 2.5
    assert cell.quantile(0.995) <= 4 and cell.quantile(0.001) >= 1
    assert CellResult("c", "s", "v", "p", 1).quantile(0.5) == 0.0


@pytest.mark.timeout(180)
def test_ctrl_c_keeps_finished_cells(tmp_path: Path) -> None:
    config = BenchConfig(
        ("memory",), ("peek", "head-50k", "linear-scan"), ("none",), (500,), tmp_path
    )
    finished: list[str] = []

    def interrupt_after_first(cell: CellResult) -> None:
        finished.append(cell.scenario)
        raise KeyboardInterrupt

    results = run_bench(config, on_cell_done=interrupt_after_first)
    assert finished == ["peek"]
    saved = load_results(tmp_path / "results.json")
    assert saved.meta["interrupted"] is True and saved.meta["finished_at"]
    assert (
        [cell.scenario for cell in saved.cells] == ["peek"] == [c.scenario for c in results.cells]
    )


def test_results_readers_tolerate_added_and_missing_fields(tmp_path: Path) -> None:
    cell = CellResult("c", "s", "v", "p", 1, ops=[OpRecord("read", 0.5, True, 3, 30)])
    RunResults({"commit": None}, [cell]).write(tmp_path / "results.json")
    raw = json.loads((tmp_path / "results.json").read_text())
    raw["cells"][0]["energy_joules"] = {"cpu": 2}  # a newer writer's field
    raw["cells"][0]["ops"][0]["future"] = 1
    del raw["cells"][0]["ratio"], raw["cells"][0]["ops"][0]["lines"]  # an older writer's file
    del raw["cells"][0]["physical_limit_s"], raw["cells"][0]["physical_ratio"]
    (tmp_path / "results.json").write_text(json.dumps(raw))
    (loaded,) = load_results(tmp_path / "results.json").cells
    assert loaded.extra == {"energy_joules": {"cpu": 2}} and loaded.ratio is None
    assert loaded.physical_limit_s == 0.0 and loaded.physical_ratio is None
    assert loaded.ops == [OpRecord("read", 0.5, True, 0, 30)]
    RunResults({}, [loaded]).write(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["cells"][0]["energy_joules"] == {
        "cpu": 2
    }


def test_warm_up_opens_and_reads_each_context_once_on_the_smallest_corpus(tmp_path: Path) -> None:
    """Before the first cell, one untimed open and read per context (a process's one-time
    costs land on no cell); a context that fails to open there does not stop the others. It
    runs on the network of the first shaped cell: what a context learns of the endpoint's
    latency (the hedge) carries to the next one, so it must be the network the cells meet."""
    calls: list[tuple[str, object]] = []

    class Target:
        def set_profile(self, profile: str, seed: int) -> bool:
            calls.append(("profile", profile))
            return False

        def open(self, name: str, lines: int, segment_lines: int) -> contexts.Context:
            calls.append(("open", (name, lines)))
            if name == "broken":
                raise contexts.StorageError("down")
            return contexts.InMemoryContext("a\nb\n")

    names = ("broken", "memory", "s3-ram")
    config = BenchConfig(names, ("peek",), ("local-disk", "seed"), (1000, 200), tmp_path)
    cells = [("volume", "peek", "local-disk", 1000)]
    cells += [(name, "peek", "seed", lines) for lines in (1000, 200) for name in names]
    assert warm_up(Target(), config, cells) >= 0  # type: ignore[arg-type]
    assert calls == [
        ("profile", "seed"),
        *(("open", (name, 200)) for name in ("volume", *names)),
    ]


def test_each_network_of_a_run_is_warmed_up_before_its_first_cell() -> None:
    """All cells before the first; then, where the simulated network changes (a profile the
    last shaped cell did not have), that network's cells of that size; directory cells read
    no network and change nothing."""
    cells = [
        ("auto", "peek", "seed", 100),
        ("volume", "peek", "local-disk", 100),
        ("auto", "random", "seed", 100),
        ("auto", "peek", "s3-standard", 100),
        ("auto", "random", "s3-standard", 100),
        ("auto", "peek", "seed", 200),
        ("auto", "peek", "s3-standard", 200),
    ]
    warmed = [(cell, before) for cell, before in network_changes(cells)]
    assert [cell for cell, _ in warmed] == cells
    assert warmed[0][1] == cells
    assert [before for _, before in warmed[1:3]] == [[], []]
    assert warmed[3][1] == cells[3:5] and warmed[4][1] == []
    assert warmed[5][1] == [cells[5]] and warmed[6][1] == [cells[6]]
    assert list(network_changes([])) == []


def test_each_group_starts_with_one_untimed_run_of_its_first_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before a (size, profile, scenario) group's first cell, that cell runs once more and its
    result is thrown away: the timed cells of a group all follow a run of the same work."""
    from bench import runner

    ran: list[tuple[str, str, str, int]] = []
    real_run_cell = runner.run_cell

    def counted(target: Any, config: BenchConfig, *cell_key: Any) -> CellResult:
        ran.append(cell_key)  # type: ignore[arg-type]
        return real_run_cell(target, config, *cell_key)

    monkeypatch.setattr(runner, "run_cell", counted)
    config = BenchConfig(("memory", "s3-ram"), ("peek", "random"), ("none",), (300,), tmp_path)
    results = run_bench(config)
    cells = [(c.context, c.scenario, c.profile, c.lines) for c in results.cells]
    assert cells == list(cells_of(config)) and len(cells) == 4
    assert ran == [cells[0], *cells[:2], cells[2], *cells[2:]]  # each group's first, twice
    assert "settle_s" in results.meta and all(c.correct for c in results.cells)
