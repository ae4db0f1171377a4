"""Hedged requests: a request still unanswered after a delay is sent again, and the first answer
wins. AWS's advice for latency-sensitive S3 reads is to retry the slowest requests: a GET's
latency has a long tail (the lab's ``s3-standard`` profile: p50 20 ms, p99 150 ms), and the one
slow request of a round is what an RLM's step waits for.

:class:`HedgePolicy` learns the delay from the requests it sees (a multiple of what a request of
that size takes: about the 90th percentile of a lognormal latency tail); :func:`hedged` runs a
batch with it.
A copy is one more request (counted like any other, and as a repeat in ``stats.retries``); the
slower copy runs to its end in the background and its answer is dropped. A large request is
not copied while the link is busy with other large ones (it queues; its copy would too).

What a policy learns is the network's, not one context's: :func:`policy_for` gives a new context
a policy that starts from what the newest one for the same endpoint has seen (and registers the
new one as the newest), so a process's second open already hedges its metadata at ~3 x the
measured latency rather than after ``initial_s``.
"""

from __future__ import annotations

import contextvars
import itertools
import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")

HEDGE_MULTIPLE = 3.0
"""A copy goes out after this many times the recent median request time."""
EAGER_MULTIPLE = 2.0
"""The same for a request a caller is waiting for (``eager``): a copy costs one more request
and a body dropped, the caller's wait costs its whole step (at ``s3-standard``, lognormal p50
20 ms / p99 150 ms, about one request in five is copied at 2 x the median, one in ten at 3 x;
the budget, ``HEDGE_BUDGET``, bounds both)."""
URGENT_MULTIPLE = 1.25
"""The same for ``urgent`` requests: parts of one read that a caller will wait for all of (the
open's speculative head parts), copied when their first byte is this many times the median
latency late. The caller waits for the slowest of them: at ``s3-standard``, 7 parts at once
wait for a draw near the 90th percentile of the latency, and a copy sent at 2 x the median
(~60 ms as measured at open, loaded by the open's own requests) lands after ~95 ms."""
URGENT_MIN_S = 0.02
"""The floor of an urgent request's delay (``HEDGE_MIN_S`` for the others)."""
LARGE_BYTES = 256 * 1024
"""Requests this large are timed for the transfer rate, smaller ones for the latency."""
HEDGE_MIN_S = 0.05
HEDGE_MAX_S = 2.0
HEDGE_INITIAL_RATE = 50e6
"""Bytes per second assumed of a large request before one has been timed (S3 gives ~90 MB/s
per connection)."""
HEDGE_INITIAL_S = 2.0
"""The delay before any request has been timed (an open: only a stalled request is copied)."""
HEDGE_BUDGET = 0.1
"""Copies a policy may send, as a share of the requests it has timed (plus ``HEDGE_FREE``): a
hedge copies the slowest few percent; when every request is slow (a stalled endpoint) copies
would only double the load, and spend the client's retry quota (botocore's standard mode stops
retrying timeouts once it is spent)."""
HEDGE_FREE = 2
"""Copies a policy may send before any request has been timed."""


class HedgePolicy:
    """When to send a request's copy: ``multiple`` x what a request of its size is expected to
    take. The expectation is learned from the last ``window`` requests: the median latency
    (each request's first byte where the transport reports it, else the time of a small one,
    under ``LARGE_BYTES``), within ``[min_s, max_s]``, plus the size at the median transfer
    rate of the large ones (see :meth:`observe`). Before any latency is known the latency part
    is ``initial_s``; before any large request is timed the rate is ``initial_rate``. A request of unknown size waits ``max_s`` (only a stalled transfer is
    copied). Thread-safe."""

    def __init__(
        self,
        *,
        multiple: float = HEDGE_MULTIPLE,
        eager_multiple: float = EAGER_MULTIPLE,
        min_s: float = HEDGE_MIN_S,
        max_s: float = HEDGE_MAX_S,
        initial_s: float = HEDGE_INITIAL_S,
        initial_rate: float = HEDGE_INITIAL_RATE,
        window: int = 64,
    ) -> None:
        if not 0 < min_s <= max_s or min(multiple, eager_multiple) <= 0 or initial_s <= 0:
            raise ValueError("hedge delays must be positive, with min_s <= max_s")
        self.multiple = multiple
        self.eager_multiple = eager_multiple
        self.min_s = min_s
        self.max_s = max_s
        self.initial_s = initial_s
        self.initial_rate = initial_rate
        self._latencies: deque[float] = deque(maxlen=window)
        self._rates: deque[float] = deque(maxlen=window)
        self._aggregates: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        self.copies = 0
        """Copies sent so far."""
        self._timed = 0  # requests timed by this policy
        self._tickets = itertools.count()
        self._large: dict[int, tuple[int, bool]] = {}  # in flight: ticket -> (bytes, flowing)

    def delay(self, nbytes: int | None = 0, *, eager: bool = False) -> float:
        """Seconds to wait for a request of ``nbytes`` (``None``: unknown) before its copy
        (``eager``: a request a caller is waiting for, ``eager_multiple`` times what it should
        take rather than ``multiple``)."""
        multiple = self.eager_multiple if eager else self.multiple
        base = self._latency_times(multiple, self.min_s)
        with self._lock:
            rate = statistics.median(self._rates) if self._rates else None
        if nbytes is not None and nbytes < LARGE_BYTES:
            return base
        if nbytes is None:
            return self.max_s
        return base + multiple * nbytes / (rate or self.initial_rate)

    def urgent_delay(self) -> float:
        """Seconds an ``urgent`` request waits for its first byte before its copy:
        ``URGENT_MULTIPLE`` x the median latency, within ``[URGENT_MIN_S, max_s]``
        (``initial_s`` there before any latency is known)."""
        return self._latency_times(URGENT_MULTIPLE, URGENT_MIN_S)

    def _latency_times(self, multiple: float, floor: float) -> float:
        """``multiple`` x the median latency (``initial_s`` before one is known), within
        ``[floor, max_s]``."""
        with self._lock:
            latency = statistics.median(self._latencies) if self._latencies else None
        base = self.initial_s if latency is None else multiple * latency
        return min(self.max_s, max(floor, base))

    def _latency_and_rate(self) -> tuple[float, float]:
        """The median latency (``min_s`` before one is known) and the median rate
        (``initial_rate`` before one is known)."""
        with self._lock:
            latency = statistics.median(self._latencies) if self._latencies else self.min_s
            rate = statistics.median(self._rates) if self._rates else self.initial_rate
        return latency, rate

    def expected(self, nbytes: int) -> float:
        """Seconds a request of ``nbytes`` is expected to take (the median latency, or
        ``min_s`` before one is known, plus the size at the median rate)."""
        latency, rate = self._latency_and_rate()
        return latency + nbytes / rate

    def cheap_bytes(self, share: float) -> int:
        """Bytes that transfer in ``share`` of a request's latency (the median latency, or
        ``min_s``, at the median rate): what asking for more in the same request costs little."""
        latency, rate = self._latency_and_rate()
        return int(share * latency * rate)

    def observe(
        self,
        seconds: float,
        nbytes: int,
        first_byte_s: float | None = None,
        *,
        eager: bool = False,
    ) -> None:
        """A request of ``nbytes`` took ``seconds``, its first byte ``first_byte_s`` (where the
        transport reports it). Its latency is that first byte if it is small or ``eager`` (a
        caller waited for it: the open's metadata and speculative reads, the caller's reads),
        else, if small, its whole time. (At ``s3-standard``, 1M lines, an open's small
        requests are its two 64 KiB reads, slowed by its own traffic: learned from them, the
        latency was 63 ms where the first bytes of all its requests said ~23 ms, and a
        caller's read drawn 285 ms was copied only after 140 ms. A background load's first
        bytes say little: its 16 parts queue behind each other at the server, 40-140 ms.)
        A large one gives its transfer rate, over the time after its first byte, else over the
        time beyond the median latency (a rate over the whole time would count the latency
        twice in :meth:`expected`, and delay a 2 MB copy at ``s3-standard`` by 240 ms instead
        of 130). Without a first byte, a large request much
        faster than the latency says (less than a quarter of its time left for the transfer)
        is rated over its whole time: one draw of the latency tail is not a measure of the
        link. (Guessed from the latency, the transfer of a 1 MiB part at ``s3-standard`` is a
        few ms of a lognormal 20 ms: its rate came out several times the link's, and 13 MB
        load parts sharing the link were copied as "slow" 100 ms after their first byte.)"""
        with self._lock:
            self._timed += 1
            if first_byte_s is not None and (eager or nbytes < LARGE_BYTES):
                self._latencies.append(first_byte_s)
            elif nbytes < LARGE_BYTES:
                self._latencies.append(seconds)
            if nbytes < LARGE_BYTES:
                return
            if first_byte_s is not None and seconds > first_byte_s:
                rate = nbytes / (seconds - first_byte_s)
                self._rates.append(rate)
                flowing = sum(1 for _nbytes, flows in self._large.values() if flows)
                self._aggregates.append(rate * max(1, flowing))
            elif seconds > 0:
                latency = statistics.median(self._latencies) if self._latencies else 0.0
                transfer = seconds - latency
                self._rates.append(nbytes / (transfer if transfer > seconds / 4 else seconds))

    def began(self, nbytes: int | None) -> int | None:
        """Count a request of ``nbytes`` in flight (``None``: unknown, counted as large); a
        ticket for :meth:`flowing` and :meth:`ended` (``None`` for a small request)."""
        if nbytes is not None and nbytes < LARGE_BYTES:
            return None
        ticket = next(self._tickets)
        with self._lock:
            self._large[ticket] = (nbytes or LARGE_BYTES, False)
        return ticket

    def flowing(self, ticket: int | None) -> None:
        """The request of ``ticket`` has its first byte: its body is flowing."""
        if ticket is not None:
            with self._lock:
                if ticket in self._large:
                    self._large[ticket] = (self._large[ticket][0], True)

    def ended(self, ticket: int | None) -> None:
        """The request of ``ticket`` is no longer in flight."""
        if ticket is not None:
            with self._lock:
                self._large.pop(ticket, None)

    def congested(self, besides: int | None = None) -> bool:
        """Whether the large requests in flight (but ``besides``) need longer than the
        latency's delay to transfer at the link's aggregate rate: a large request late now is
        queued behind them (at the server, in the client's CPU), not drawn from the latency
        tail, and its copy would queue too, and lengthen the queue by its size. The aggregate
        rate is the median of a large request's rate times the bodies flowing as it ended
        (before any: the median rate of one; the median, as a late-noticed first byte makes
        a few rates many times the link's)."""
        with self._lock:
            queued = sum(nbytes for ticket, (nbytes, _) in self._large.items() if ticket != besides)
            if not queued:
                return False
            rates = self._aggregates or self._rates
            aggregate = statistics.median(rates) if rates else self.initial_rate
        return queued / aggregate > self.delay(0)

    def timed(self, fetch: Callable[[], bytes], *, eager: bool = False) -> bytes:
        """``fetch()``, its time, size and first byte (if its transport reports it, see
        :func:`first_byte_arrived`) observed (``eager``: a caller waits for it)."""
        started = time.monotonic()
        heads: list[float] = []
        outer = _FIRST_BYTE.get()

        def arrived() -> None:
            heads.append(time.monotonic())  # the last one counts (a retry starts over)
            if outer is not None:
                outer()

        token = _FIRST_BYTE.set(arrived)
        try:
            body = fetch()
        finally:
            _FIRST_BYTE.reset(token)
        first_byte_s = heads[-1] - started if heads else None
        self.observe(time.monotonic() - started, len(body), first_byte_s, eager=eager)
        return body

    def following(self) -> HedgePolicy:
        """A new policy with the same settings that starts from what this one has observed
        (its copies count from zero)."""
        policy = HedgePolicy(
            multiple=self.multiple,
            eager_multiple=self.eager_multiple,
            min_s=self.min_s,
            max_s=self.max_s,
            initial_s=self.initial_s,
            initial_rate=self.initial_rate,
            window=self._latencies.maxlen or 64,
        )
        with self._lock:
            policy._latencies.extend(self._latencies)
            policy._rates.extend(self._rates)
            policy._aggregates.extend(self._aggregates)
        return policy

    def copied(self) -> None:
        """Count a copy sent."""
        with self._lock:
            self.copies += 1

    def may_copy(self) -> bool:
        """Whether a copy is within the budget (``HEDGE_BUDGET`` of the requests timed, plus
        ``HEDGE_FREE``)."""
        with self._lock:
            return self.copies < HEDGE_FREE + HEDGE_BUDGET * self._timed


SETTLE_POLL_S = 0.05
"""How often a wait on futures looks again at the ones it waits for: ``concurrent.futures.wait``
and ``as_completed`` never see a future that a pool's ``shutdown(cancel_futures=True)``
cancelled (it is not "notified"), so a wait without a timeout on one would never end."""


def first_success(futures: Sequence[Future[T]]) -> T:
    """The first answer among copies of one request; if all fail (or were cancelled, as by a
    pool's shutdown at ``close()``), the first failure."""
    error: BaseException | None = None
    pending = list(futures)
    while True:
        for future in [future for future in pending if future.done()]:
            pending.remove(future)
            if future.cancelled():
                error = error or CancelledError()
                continue
            failure = future.exception()
            if failure is None:
                return future.result()
            error = error or failure
        if not pending:
            break
        wait(pending, timeout=SETTLE_POLL_S, return_when=FIRST_COMPLETED)
    assert error is not None
    raise error


def settle(futures: Iterable[Future[Any]]) -> None:
    """Until every one of ``futures`` is done: finished, failed or cancelled (see
    ``SETTLE_POLL_S``)."""
    pending = [future for future in futures if not future.done()]
    while pending:
        wait(pending, timeout=SETTLE_POLL_S)
        pending = [future for future in pending if not future.done()]


REMEMBERED_ENDPOINTS = 64
"""Endpoints whose newest policy :func:`policy_for` keeps (least recently opened dropped)."""
_newest: OrderedDict[str, HedgePolicy] = OrderedDict()
_newest_lock = threading.Lock()


def policy_for(endpoint: str) -> HedgePolicy:
    """A policy for a new context reading ``endpoint`` (any string naming the network path:
    endpoint URL and region): it starts from what the newest policy for ``endpoint`` observed,
    and becomes the newest."""
    with _newest_lock:
        previous = _newest.pop(endpoint, None)
        policy = HedgePolicy() if previous is None else previous.following()
        _newest[endpoint] = policy
        while len(_newest) > REMEMBERED_ENDPOINTS:
            _newest.popitem(last=False)
    return policy


def forget_endpoints() -> None:
    """Forget what every endpoint's policies observed: new contexts start from nothing learned.
    For a process whose network changes under the same endpoint (the bench, which switches the
    simulated network between cells); a real process keeps what it learned."""
    with _newest_lock:
        _newest.clear()


_FIRST_BYTE: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "ctxlab_first_byte", default=None
)


def first_byte_arrived() -> None:
    """Called by a transport when a response's headers have arrived (its first byte): the
    request running in this thread is no longer waiting on the latency tail (see
    :func:`hedged`)."""
    report = _FIRST_BYTE.get()
    if report is not None:
        report()


def hedged(
    tasks: Sequence[Callable[[], T]],
    pool: ThreadPoolExecutor,
    policy: HedgePolicy,
    sizes: Sequence[int | None],
    on_copy: Callable[[], None] = lambda: None,
    *,
    first_byte: bool = False,
    eager: bool = False,
    urgent: bool = False,
) -> list[T]:
    """Run each of ``tasks`` (one request each, of ``sizes`` bytes; ``None``: unknown) on
    ``pool``; a task running longer than ``policy.delay(size)`` is started once more (one still
    queued is not: it is not slow; each copy calls ``on_copy``), and the first answer of each
    wins. Each run sees the caller's context variables (its deadline). Copies stay within the
    policy's budget (:meth:`HedgePolicy.may_copy`).

    With ``first_byte`` (the tasks' transport calls :func:`first_byte_arrived`), S3's tail is
    caught where it lives, in the first byte: a task whose response has not begun after
    ``policy.delay(0)`` (the latency's delay) is copied whatever its size, and one whose body is
    flowing only if its transfer overruns ``policy.delay(size)`` from there on (a 2 MB part
    drawn 285 ms to its first byte at ``s3-standard`` is copied after ~100 ms, not ~270).
    ``eager`` tasks (a caller waits for them) are copied after ``policy.delay(size,
    eager=True)``; ``urgent`` ones (with ``first_byte``: parts a caller will wait for all of)
    when their first byte is later than ``policy.urgent_delay()``.

    A large task is not copied while the link is busy (:meth:`HedgePolicy.congested`: the
    large requests in flight would take longer than the latency's delay to transfer). Then
    it is late because it queues, at the server or for the client's CPU, and its copy would
    queue too: with the copies, 13 MB load parts at a fixed 20 ms latency, no tail at all,
    were sent twice, and the load took longer. An eager task whose response has not begun is
    copied busy link or not: it waits on the latency, and so does its caller (a cold read
    right after open, behind the open's 8 MB of speculative parts, drew 285 ms at
    ``s3-standard`` and was copied only once they had landed: 200 ms in all, not ~100)."""
    starts: list[float | None] = [None] * len(tasks)
    heads: list[float | None] = [None] * len(tasks)
    tickets: list[int | None] = [None] * len(tasks)  # a large request's, in the policy

    def run(number: int) -> T:
        ticket = tickets[number] = policy.began(sizes[number])
        starts[number] = time.monotonic()
        if first_byte:

            def arrived() -> None:
                heads[number] = time.monotonic()
                policy.flowing(ticket)

            _FIRST_BYTE.set(arrived)
        else:
            policy.flowing(ticket)  # unknown: counted as flowing from the start
        try:
            return tasks[number]()
        finally:
            policy.ended(ticket)

    def copy(number: int) -> T:
        ticket = policy.began(sizes[number])
        policy.flowing(ticket)
        try:
            return tasks[number]()
        finally:
            policy.ended(ticket)

    def delay(number: int) -> float:
        """Seconds after its start at which task ``number`` is copied (learns meanwhile)."""
        if not first_byte:
            return policy.delay(sizes[number], eager=eager)
        head, started = heads[number], starts[number]
        latency = policy.urgent_delay() if urgent else policy.delay(0, eager=eager)
        if head is None or started is None:
            return latency
        return head - started + max(latency, policy.delay(sizes[number], eager=eager) - latency)

    def queued_behind(number: int) -> bool:
        """Whether task ``number`` is large and late because the link is busy (a small
        request's copy costs little; an eager one not yet begun is late on the latency)."""
        ticket = tickets[number]
        if eager and first_byte and heads[number] is None:
            return False
        return ticket is not None and policy.congested(besides=ticket)

    def submit(fn: Callable[..., T], *args: object) -> Future[T]:
        return pool.submit(contextvars.copy_context().run, fn, *args)

    first = [submit(run, number) for number in range(len(tasks))]
    copies: dict[int, Future[T]] = {}
    while True:
        now = time.monotonic()
        waiting: list[Future[T]] = []
        due: list[float] = []
        for number, future in enumerate(first):
            if future.done() or number in copies:
                continue
            started, wait_s = starts[number], delay(number)
            late = started is not None and now - started >= wait_s
            if late and policy.may_copy() and not queued_behind(number):
                copies[number] = submit(copy, number)
                policy.copied()
                on_copy()
                continue
            waiting.append(future)
            if late:  # over the copy budget, or queued: look again later
                due.append(policy.min_s)
            elif started is not None:
                due.append(started + wait_s - now)
        if not waiting:
            break
        timeout = min(due) if due else policy.min_s
        wait(waiting, timeout=max(0.001, timeout), return_when=FIRST_COMPLETED)
    return [
        first_success([future, copies[number]]) if number in copies else future.result()
        for number, future in enumerate(first)
    ]


__all__ = ["HedgePolicy", "first_success", "hedged", "settle"]
