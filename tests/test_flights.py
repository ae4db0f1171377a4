"""Flights: each key is fetched by one thread; the others wait for it, then look again."""

from __future__ import annotations

import threading

from contexts.flights import Flights


def test_a_claimed_key_is_the_first_claimers_and_the_others_wait_for_it() -> None:
    flights: Flights[str] = Flights()
    mine, theirs = flights.claim(["a", "b", "a"])
    assert mine == ["a", "b"] and theirs == []  # duplicates claimed once
    again, waiting = flights.claim(["b", "c"])
    assert again == ["c"] and len(waiting) == 1 and not waiting[0].is_set()
    flights.release(mine)
    assert waiting[0].is_set()
    Flights.wait(waiting)  # returns at once
    free, none = flights.claim(["a"])  # released: free to claim again (e.g. after a failure)
    assert free == ["a"] and none == []


def test_waiters_wake_when_the_flight_ends() -> None:
    flights: Flights[int] = Flights()
    mine, _ = flights.claim([1])
    _, theirs = flights.claim([1])
    woke = threading.Event()

    def waiter() -> None:
        Flights.wait(theirs)
        woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not woke.wait(0.05)
    flights.release(mine)
    thread.join(timeout=10)
    assert woke.is_set() and not thread.is_alive()
