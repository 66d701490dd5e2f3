"""Run a producer ahead of its consumer in a thread (bounded), so neither waits on the other."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def lower_this_thread_priority(niceness: int) -> None:
    """Make the calling thread yield the CPU to others (Linux: nice is per thread); no-op elsewhere.

    Why: on a CPU-rendering machine the pipeline's own threads (scene building, annotation, writing)
    compete with Cycles' render threads for the same cores, and every cycle they take stretches the
    render. Nice work runs in the gaps instead: while the worker syncs the scene, reads back passes
    and starts the next job, cores sit idle. The pipeline stays ahead with its prefetch depth.
    """
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, current + niceness))
    except OSError:  # not permitted in some sandboxes: stay at normal priority
        return


def prefetched(items: Iterable[T], depth: int = 4, niceness: int = 0) -> Iterator[T]:
    """Yield `items`, produced up to `depth` ahead by a background thread.

    Why: the render pool pulls the next scene description the moment a worker has room; building it
    (numpy, trimesh, physics settling) then has already happened while the workers rendered. An
    exception in the producer is raised here, at the item where it happened; when the consumer stops
    early the producer stops too instead of blocking forever. `niceness` > 0 lowers the producer
    thread's priority (see `lower_this_thread_priority`).
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(entry: tuple[object, BaseException | None]) -> bool:
        """Put `entry` in the buffer unless the consumer has stopped (then it would wait forever)."""
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        lower_this_thread_priority(niceness)
        try:
            for item in items:
                if not hand_over((item, None)):
                    return
            hand_over((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            hand_over((_DONE, exc))

    thread = threading.Thread(target=produce, name="scenesmith-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
