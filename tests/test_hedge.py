"""Hedged requests: a request slower than the policy's delay is sent once more and the first
answer wins. The slow requests here block on an
event the test releases only after the read returned, so a read that waited for them could not
return at all (the timeout fails it): nothing is timed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

import pytest

from contexts.errors import StorageError
from contexts.transport.base import ByteRequest
from contexts.transport.buffered import BufferedTransport
from contexts.transport.hedge import (
    HEDGE_FREE,
    HEDGE_INITIAL_S,
    HEDGE_MIN_S,
    REMEMBERED_ENDPOINTS,
    URGENT_MIN_S,
    URGENT_MULTIPLE,
    HedgePolicy,
    first_byte_arrived,
    first_success,
    forget_endpoints,
    hedged,
    policy_for,
    settle,
)
from tests.servers import DictTransport

DATA = bytes(range(256)) * 4


class FirstCallHangs(DictTransport):
    """Each range's first GET blocks until ``release`` is set; later ones answer at once."""

    def __init__(self) -> None:
        super().__init__({"obj": DATA})
        self.release = threading.Event()
        self._seen: set[tuple[int, int] | None] = set()
        self._seen_lock = threading.Lock()

    def _fetch(self, request: ByteRequest) -> bytes:
        with self._seen_lock:
            first = request.byte_range not in self._seen
            self._seen.add(request.byte_range)
        if first:
            self.release.wait(60)
        return super()._fetch(request)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(8)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def quick_policy() -> HedgePolicy:
    return HedgePolicy(min_s=0.01, initial_s=0.01)


def test_the_delay_is_a_multiple_of_what_a_request_of_that_size_takes() -> None:
    """Small requests give the latency, large ones the rate (an assumed one before any is
    timed); an unknown size waits the longest delay (only a stalled transfer is copied)."""
    policy = HedgePolicy(
        multiple=4.0, min_s=0.05, max_s=2.0, initial_s=0.5, initial_rate=1e6, window=3
    )
    assert policy.delay() == 0.5 and policy.delay(None) == 2.0
    assert policy.delay(1_000_000) == pytest.approx(0.5 + 4.0)
    for seconds in (0.02, 0.03, 0.5):
        policy.observe(seconds, 1000)
    assert policy.delay(1000) == pytest.approx(0.12)  # 4 x the median, 30 ms
    policy.observe(0.13, 10_000_000)  # the 30 ms latency, then 100 MB/s
    assert policy.delay(1_000_000) == pytest.approx(0.12 + 4 * 0.01)
    assert policy.expected(1_000_000) == pytest.approx(0.03 + 0.01)
    assert policy.delay(None) == 2.0
    assert policy.delay(1000, eager=True) == pytest.approx(0.06)  # 2 x the median for a
    assert policy.delay(1_000_000, eager=True) == pytest.approx(0.06 + 2 * 0.01)  # waiting caller
    assert policy.following().delay(1000, eager=True) == pytest.approx(0.06)
    for seconds in (0.001, 0.001, 0.001):  # the window forgets the older times
        policy.observe(seconds, 10)
    assert policy.delay() == 0.05
    for seconds in (5.0, 5.0, 5.0):
        policy.observe(seconds, 10)
    assert policy.delay() == 2.0
    with pytest.raises(ValueError):
        HedgePolicy(min_s=0.0)


def test_a_request_that_reports_its_first_byte_is_rated_over_its_body_alone() -> None:
    """Where the transport reports the first byte, a large request's rate is its body's
    time, not its time beyond a guessed latency (a fast latency draw would inflate it)."""
    policy = HedgePolicy(multiple=1.0, min_s=0.01, initial_s=0.01, window=3)
    for _ in range(3):
        policy.observe(0.05, 1000)  # a 50 ms latency
    policy.observe(0.06, 1_000_000, first_byte_s=0.01)  # 50 ms of body: 20 MB/s, not 100
    assert policy.expected(1_000_000) == pytest.approx(0.05 + 0.05)
    seen: list[float | None] = []
    policy.observe = lambda seconds, nbytes, first_byte_s=None, eager=False: seen.append(  # type: ignore[method-assign]
        first_byte_s
    )

    def fetch() -> bytes:
        first_byte_arrived()
        return bytes(300_000)

    policy.timed(fetch)
    policy.timed(lambda: bytes(300_000))  # no first byte reported
    assert seen[0] is not None and seen[0] >= 0 and seen[1] is None


def test_the_latency_is_learned_from_the_first_bytes_callers_wait_for() -> None:
    """Where the transport reports first bytes, a small request's first byte is a latency, and
    so is a large one's a caller waited for (``eager``: an open's few small requests, slowed by
    its own traffic, would not say it); a large background request's is not (it queues behind
    its own burst). Without a first byte, a small request's whole time is."""
    policy = HedgePolicy(multiple=3.0, min_s=0.001, initial_s=1.0)
    policy.observe(0.3, 10_000_000)  # large, no first byte: no latency
    policy.observe(0.3, 10_000_000, first_byte_s=0.2)  # large, in the background: none either
    assert policy.delay() == 1.0
    for first_byte in (0.02, 0.02, 0.03):
        policy.observe(0.2, 10_000_000, first_byte_s=first_byte, eager=True)
    policy.observe(0.08, 1000)  # a small one's whole time
    assert policy.delay() == pytest.approx(3 * 0.025)
    policy.observe(0.5, 1000, first_byte_s=0.01)  # a small one's first byte
    assert policy.delay() == pytest.approx(3 * 0.02)


@pytest.mark.timeout(60)
def test_a_slow_request_is_copied_and_the_copy_answers(pool: ThreadPoolExecutor) -> None:
    inner = FirstCallHangs()
    buffer = BufferedTransport(inner, hedge=quick_policy(), pool=pool)
    requests = [ByteRequest("obj", (0, 100)), ByteRequest("obj", (500, 1000))]
    try:
        assert buffer.get_many(requests) == [DATA[0:100], DATA[500:1000]]
        assert not inner.release.is_set()  # both first GETs still hang: the copies answered
        assert (
            inner.gets["obj"] == inner.stats.snapshot().requests == 2
        )  # copies; two first GETs hang
        assert buffer._hedge is not None and buffer._hedge.copies == 2
    finally:
        inner.release.set()


@pytest.mark.timeout(60)
def test_a_callers_read_is_copied_at_the_eager_delay(pool: ThreadPoolExecutor) -> None:
    """A caller's read is copied after ``eager_multiple`` x the latency (20 ms here), not after
    ``multiple`` x (here 100 s: past the test's timeout, so a read that waited for it fails)."""
    policy = HedgePolicy(multiple=10_000.0, eager_multiple=2.0, min_s=0.01, max_s=1000.0)
    for _ in range(3):
        policy.observe(0.01, 1000)
    inner = FirstCallHangs()
    buffer = BufferedTransport(inner, hedge=policy, pool=pool)
    try:
        assert buffer.get("obj", (0, 100)) == DATA[0:100]
        assert policy.copies == 1 and not inner.release.is_set()
    finally:
        inner.release.set()


def test_a_read_waits_for_its_flight_instead_of_asking_again(
    pool: ThreadPoolExecutor,
) -> None:
    inner = DictTransport({"obj": DATA})
    buffer = BufferedTransport(inner, hedge=quick_policy(), pool=pool)
    landing: Future[bytes] = Future()
    buffer.expect("obj", 0, len(DATA), landing)

    def land() -> None:
        buffer.hold("obj", 0, DATA)
        landing.set_result(DATA)

    threading.Timer(0.05, land).start()
    assert buffer.get_many([ByteRequest("obj", (10, 20))]) == [DATA[10:20]]
    assert inner.gets["obj"] == 0  # answered by the flight, no request of its own


@pytest.mark.timeout(60)
def test_a_queued_request_is_not_copied_and_failures_still_raise() -> None:
    """On one worker the second task waits in the queue behind the first: it is not slow, so
    only the first (running past the delay) is copied."""
    release = threading.Event()
    calls: list[str] = []

    def slow_once() -> str:
        calls.append("a")
        if calls.count("a") == 1:
            release.wait(60)
        return "a"

    def quick() -> str:
        calls.append("b")
        return "b"

    policy = HedgePolicy(min_s=0.5, initial_s=0.5)
    with ThreadPoolExecutor(1) as one:
        threading.Timer(1.0, release.set).start()
        assert hedged([slow_once, quick], one, policy, [0, 0]) == ["a", "b"]
    assert policy.copies == 1 and calls.count("b") == 1

    def fails() -> str:
        raise StorageError("down")

    with ThreadPoolExecutor(2) as two:
        with pytest.raises(StorageError):
            hedged([fails], two, policy, [0])
        failed: Future[str] = two.submit(fails)
        answered: Future[str] = two.submit(quick)
        assert first_success([failed, answered]) == "b"


@pytest.mark.timeout(60)
def test_a_read_waits_for_a_flight_with_an_eta_only_when_it_should_land_first(
    pool: ThreadPoolExecutor,
) -> None:
    """A load part expected to land long after the read's own request would asks storage at
    once; one expected sooner is waited for (and costs no request)."""
    import time

    inner = DictTransport({"obj": DATA})
    buffer = BufferedTransport(inner, hedge=quick_policy(), pool=pool)
    late: Future[bytes] = Future()
    buffer.expect("obj", 0, 512, late, eta=time.monotonic() + 3600)
    assert buffer.get_many([ByteRequest("obj", (10, 20))]) == [DATA[10:20]]
    assert inner.gets["obj"] == 1
    late.set_result(b"")

    soon: Future[bytes] = Future()
    buffer.expect("obj", 512, 1024, soon, eta=time.monotonic())

    def land() -> None:
        buffer.hold("obj", 512, DATA[512:1024])
        soon.set_result(b"")

    threading.Timer(0.01, land).start()
    policy = buffer._hedge
    assert policy is not None
    policy.observe(30.0, 10)  # a request of the read's own would take 30 s: waiting pays
    assert buffer.get_many([ByteRequest("obj", (600, 700))]) == [DATA[600:700]]
    assert inner.gets["obj"] == 1


def test_a_new_context_starts_from_what_the_newest_one_on_its_endpoint_learned() -> None:
    """policy_for: the second policy of an endpoint delays by its observed latency from the
    start (not initial_s); another endpoint starts fresh; copies count per policy; the memory
    keeps the newest REMEMBERED_ENDPOINTS endpoints."""
    first = policy_for("http://a.test us-east-1")
    assert first.delay() == HEDGE_INITIAL_S
    for _ in range(5):
        first.observe(0.02, 100)
    first.copied()
    second = policy_for("http://a.test us-east-1")
    assert second is not first and second.copies == 0
    assert second.delay() == pytest.approx(max(HEDGE_MIN_S, 3 * 0.02))
    assert policy_for("http://b.test us-east-1").delay() == HEDGE_INITIAL_S
    for number in range(REMEMBERED_ENDPOINTS):
        policy_for(f"http://filler-{number}.test")
    assert policy_for("http://a.test us-east-1").delay() == HEDGE_INITIAL_S  # forgotten
    learned = policy_for("http://c.test us-east-1")
    learned.observe(0.02, 100)
    forget_endpoints()  # another network under the same endpoint (the bench)
    assert policy_for("http://c.test us-east-1").delay() == HEDGE_INITIAL_S


@pytest.mark.timeout(60)
def test_with_first_byte_a_large_request_late_to_begin_is_copied_one_flowing_is_not() -> None:
    """``first_byte``: a large request that has not begun after the latency's delay is copied
    (its size would otherwise put the copy off for ~20 s here); one whose response began is
    left to finish while its transfer is within the size's delay. Events, not timings, decide:
    the late one's first attempt hangs until the test has its answer from the copy."""
    policy = HedgePolicy(min_s=0.05, initial_s=0.05, initial_rate=1e6)  # 20 MB: ~60 s delay
    release = threading.Event()
    attempts: list[str] = []

    def late_to_begin() -> str:
        attempts.append("late")
        if attempts.count("late") == 1:
            release.wait(60)  # no first byte: the copy answers
        first_byte_arrived()
        return "copy"

    def flowing() -> str:
        attempts.append("flowing")
        first_byte_arrived()
        time.sleep(0.3)  # 6 x the latency's delay, well within the size's
        return "whole"

    with ThreadPoolExecutor(4) as workers:
        answers = hedged(
            [late_to_begin, flowing], workers, policy, [20_000_000, 20_000_000], first_byte=True
        )
        release.set()
    assert answers == ["copy", "whole"]
    assert attempts.count("late") == 2 and attempts.count("flowing") == 1
    assert policy.copies == 1


def test_the_urgent_delay_is_a_smaller_multiple_of_the_latency_with_a_lower_floor() -> None:
    policy = HedgePolicy(min_s=0.05, max_s=2.0, initial_s=2.0)
    assert policy.urgent_delay() == 2.0  # nothing learned: only a stalled request is copied
    for latency in (0.030, 0.032, 0.034):
        policy.observe(latency, 100, latency, eager=True)
    assert policy.urgent_delay() == pytest.approx(URGENT_MULTIPLE * 0.032)
    assert policy.delay(0, eager=True) == pytest.approx(2 * 0.032)
    fast = HedgePolicy()
    fast.observe(0.002, 100, 0.002, eager=True)
    assert fast.urgent_delay() == URGENT_MIN_S and fast.delay(0, eager=True) == HEDGE_MIN_S


@pytest.mark.timeout(20)
def test_an_urgent_part_late_to_its_first_byte_is_copied_at_the_urgent_delay() -> None:
    """The eager delay here is 30 s, past the test's timeout: only the urgent delay (20 ms,
    from a 4 ms latency) copies the part whose first attempt hangs."""
    policy = HedgePolicy(min_s=30.0, max_s=60.0, initial_s=30.0)
    policy.observe(0.004, 100, 0.004, eager=True)
    release = threading.Event()
    attempts: list[str] = []

    def late_to_begin() -> str:
        attempts.append("late")
        if len(attempts) == 1:
            release.wait(60)
        first_byte_arrived()
        return "copy"

    with ThreadPoolExecutor(4) as workers:
        answers = hedged(
            [late_to_begin], workers, policy, [1 << 20], first_byte=True, eager=True, urgent=True
        )
        release.set()
    assert answers == ["copy"] and len(attempts) == 2 and policy.copies == 1


@pytest.mark.timeout(60)
def test_copies_stay_within_the_budget_when_every_request_is_slow() -> None:
    """A stalled endpoint makes every request late: the policy copies ``HEDGE_FREE`` of them
    (plus a share of those it has timed, none here), not all, which would double the load."""
    policy = HedgePolicy(min_s=0.01, initial_s=0.01)
    release = threading.Event()
    sent: list[int] = []

    def stalled() -> str:
        release.wait(60)
        return "late"

    def copied() -> None:
        sent.append(1)
        if len(sent) == HEDGE_FREE:  # let the loop run on a while: a copy past the budget fails
            threading.Timer(0.3, release.set).start()

    with ThreadPoolExecutor(16) as workers:
        assert hedged([stalled] * 6, workers, policy, [0] * 6, copied) == ["late"] * 6
    assert policy.copies == len(sent) == HEDGE_FREE


@pytest.mark.timeout(60)
def test_a_large_request_late_behind_a_busy_link_waits_for_the_queue_a_small_one_does_not() -> None:
    """While the large requests in flight need longer than the latency's delay to transfer, a
    large request late to its first byte is queued behind them, not the latency tail: its copy
    waits until they have landed. A small one is copied at the latency's delay all the same
    (a copy of it costs little). Order, not timing, is checked: without the rule the large
    copy would go out ~0.45 s before the busy transfer lands."""
    policy = HedgePolicy(min_s=0.05, initial_s=0.05, initial_rate=1e6)  # 20 MB: 20 s queued
    release = threading.Event()
    events: list[str] = []

    def busy() -> str:
        first_byte_arrived()
        time.sleep(0.5)
        events.append("busy landed")
        return "busy"

    def late(name: str) -> Callable[[], str]:
        def fetch() -> str:
            events.append(name)
            if events.count(name) == 1:
                release.wait(60)  # no first byte: the copy answers
            first_byte_arrived()
            return name

        return fetch

    with ThreadPoolExecutor(6) as workers:
        sizes = [20_000_000, 20_000_000, 1_000]
        answers = hedged(
            [busy, late("large"), late("small")], workers, policy, sizes, first_byte=True
        )
        release.set()
    assert answers == ["busy", "large", "small"]
    assert policy.copies == 2
    landed = events.index("busy landed")
    second = [i for i, event in enumerate(events) if event in ("large", "small")][2:]
    copies = {events[i]: i for i in second}
    assert copies["small"] < landed < copies["large"], events


@pytest.mark.timeout(60)
def test_waits_end_on_futures_cancelled_by_a_pool_shutdown() -> None:
    """``concurrent.futures.wait`` and ``as_completed`` never see a future cancelled by
    ``shutdown(cancel_futures=True)``: a close during a hedged read hung on one."""
    pool = ThreadPoolExecutor(1)
    release = threading.Event()
    running = pool.submit(release.wait)
    queued = pool.submit(lambda: b"never")
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(CancelledError):
        first_success([queued])
    settle([queued])
    release.set()
    settle([running, queued])
    assert first_success([queued, running]) is True
