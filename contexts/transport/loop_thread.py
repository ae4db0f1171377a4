"""One asyncio event loop on a daemon thread, owned by a transport (fsspec's ``sync()`` pattern).

Synchronous callers on any thread — including threads that already run an event loop, as in
Jupyter — block on ``call``; coroutines use ``acall``. The caller's loop is never used.
``close`` cancels work in flight, runs the owner's async clean-up, stops the loop and joins the
thread; a ``weakref.finalize`` does the same at garbage collection or interpreter exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from contexts.errors import ContextClosedError, ContextError, StorageError
from contexts.transport.retry import deadline_error, remaining_s

T = TypeVar("T")

_POLL_S = 0.25
"""How often a blocked caller checks that the loop thread is still alive."""

Cleanup = Callable[[], Coroutine[Any, Any, Any]]


class LoopThread:
    """A private event loop for one transport; ``label`` names it in messages."""

    def __init__(self, name: str, label: str, *, close_timeout_s: float = 10.0) -> None:
        self.label = label
        self._lock = threading.Lock()
        self._closed = False
        self._cleanups: list[Cleanup] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=_run_loop, args=(self.loop,), name=name, daemon=True)
        self.thread.start()
        self._finalizer = weakref.finalize(
            self, _shutdown, self.loop, self.thread, self._cleanups, close_timeout_s
        )

    def on_close(self, cleanup: Cleanup) -> None:
        """Await ``cleanup()`` on the loop when closing, after work in flight is cancelled.

        ``cleanup`` must not hold a reference to the owner (it would keep it alive)."""
        self._cleanups.append(cleanup)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; raises ContextClosedError once closed."""
        with self._lock:
            if self._closed:
                coro.close()
                raise ContextClosedError(
                    f"the context for {self.label} is closed; open a new one with "
                    "contexts.open_context(...)"
                )
            return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block this thread until it is done.

        Safe from any thread but the loop's own. ``KeyboardInterrupt`` or ``timeout`` cancels
        the coroutine; a ``close()`` meanwhile raises ContextClosedError.
        """
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError(
                "a blocking context call was made on the context's own event-loop thread; "
                "use the awaitable forms (aslice, aread_many) from coroutines"
            )
        future = self.submit(coro)
        try:
            ends = None if timeout is None else time.monotonic() + timeout
            while True:
                step = _POLL_S if ends is None else max(0.0, min(_POLL_S, ends - time.monotonic()))
                if concurrent.futures.wait([future], timeout=step).done:
                    break
                if ends is not None and time.monotonic() >= ends:
                    raise TimeoutError(f"no answer from {self.label} within {timeout:g} s")
                if not self.thread.is_alive():
                    raise StorageError(
                        f"the event-loop thread of the context for {self.label} stopped; "
                        "close the context and open a new one"
                    )
        except BaseException:
            future.cancel()
            raise
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            self._raise_if_closed()
            raise

    def call_by_deadline(self, coro: Coroutine[Any, Any, T]) -> T:
        """:meth:`call` under the caller's read deadline (``retry.deadline_scope``): the
        coroutine sees it, and the caller stops waiting (the coroutine is cancelled) once it
        passes, with :class:`~contexts.errors.DeadlineExceededError`."""
        left = remaining_s()
        if left is not None and left <= 0:
            coro.close()
            raise deadline_error(self.label)
        try:
            # run_coroutine_threadsafe runs the task in a copy of this thread's context, so the
            # coroutine sees the caller's deadline; a refused coroutine is closed by submit().
            return self.call(coro, left)
        except TimeoutError as exc:
            if isinstance(exc, ContextError):
                raise
            raise deadline_error(self.label) from None

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on this loop without blocking the caller's loop."""
        future = self.submit(coro)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling() == 0:
                self._raise_if_closed()  # cancelled by close(), not by our caller
            raise

    def close(self) -> None:
        """Cancel work in flight, run the clean-ups, stop the loop, join the thread. Idempotent."""
        with self._lock:
            self._closed = True
        self._finalizer()

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise ContextClosedError(
                f"the context for {self.label} was closed while this read was in flight"
            ) from None


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: run until stopped, then cancel leftovers, join executors, close."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _cancel_then_clean(cleanups: list[Cleanup]) -> None:
    """Cancel every other task on the loop (reads in flight), then run the clean-ups."""
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    for cleanup in cleanups:
        await cleanup()


def _shutdown(
    loop: asyncio.AbstractEventLoop,
    thread: threading.Thread,
    cleanups: list[Cleanup],
    timeout: float,
) -> None:
    """Holds no reference to the owner, so it also runs from the garbage collector."""
    if not thread.is_alive() or loop.is_closed():
        return
    if threading.current_thread() is thread:
        # Closed from a callback on the loop itself: it cannot wait for itself, so clean up in
        # a task that stops the loop when done.
        task = loop.create_task(_cancel_then_clean(cleanups))
        task.add_done_callback(lambda _task: loop.stop())
        return
    future = asyncio.run_coroutine_threadsafe(_cancel_then_clean(cleanups), loop)
    try:
        future.result(timeout)
    except BaseException:  # best effort: the loop is stopped below either way
        future.cancel()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)
