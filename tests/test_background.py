"""The pipeline's background threads: prefetching order, error hand-over and lowered priority."""

from __future__ import annotations

import os
import threading

import pytest

from scenesmith.background import lower_this_thread_priority, prefetched


def test_prefetched_yields_every_item_in_order() -> None:
    assert list(prefetched(iter(range(20)), depth=3)) == list(range(20))


def test_prefetched_raises_the_producers_error_at_its_item() -> None:
    def items():
        yield 1
        raise ValueError("bad scene 2")

    got = []
    with pytest.raises(ValueError, match="bad scene 2"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1]


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no per-thread priority on this OS")
def test_producer_thread_runs_at_lower_priority_and_the_caller_does_not() -> None:
    seen = []

    def items():
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        yield 0

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert list(prefetched(items(), niceness=5)) == [0]
    assert seen == [min(19, before + 5)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    lower_this_thread_priority(0)  # zero is a no-op
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


@pytest.mark.parametrize("last", ["done", "error"])
def test_a_consumer_that_stops_early_leaves_no_producer_blocked(last: str) -> None:
    """The end (or the error) of a full buffer's producer was put without a timeout: when the consumer
    stopped, the thread waited forever, holding its items (one per failed job in the API server)."""
    produced = threading.Event()

    def items():
        yield from range(4)
        produced.set()
        if last == "error":
            raise ValueError("bad scene 3")

    stream = prefetched(items(), depth=3)
    assert next(stream) == 0
    assert produced.wait(5)  # 1, 2 and 3 fill the buffer: the end (or the error) waits for room
    before = {t for t in threading.enumerate() if t.name == "scenesmith-prefetch"}
    stream.close()
    for thread in before:
        thread.join(timeout=5)
        assert not thread.is_alive()
