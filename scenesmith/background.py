"""Run a producer ahead of its consumer in a thread (bounded), so neither waits on the other."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Yield `items`, produced up to `depth` ahead by a background thread.

    Why: the render pool pulls the next scene description the moment a worker has room; building it
    (numpy, trimesh, physics settling) then has already happened while the workers rendered. An
    exception in the producer is raised here, at the item where it happened; when the consumer stops
    early the producer stops too instead of blocking forever.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            buffer.put((_DONE, exc))

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
