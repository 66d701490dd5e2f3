"""Two benchmark processes on one run folder split the (arm, seed) runs and both see every record."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from filelock import FileLock

from scenesmith.benchmark.schedule import run_shared

ITEMS = [("pre", 0), ("pre", 1), ("tune", 0), ("tune", 1)]


def _depends_on(item: tuple[str, int]) -> tuple[str, int] | None:
    return ("pre", item[1]) if item[0] == "tune" else None


def _lock_path(root: Path):
    return lambda item: root / item[0] / f"seed{item[1]}.lock"


def test_a_run_held_elsewhere_is_skipped_then_waited_for_and_its_dependents_wait_too(tmp_path: Path) -> None:
    finished_elsewhere: set[tuple[str, int]] = set()
    order: list[tuple[str, int]] = []

    def run_one(item: tuple[str, int]) -> str:
        dependency = _depends_on(item)
        assert dependency is None or dependency in order or dependency in finished_elsewhere
        order.append(item)
        return f"{item[0]}{item[1]}"

    held = threading.Event()

    def other_process() -> None:
        with FileLock(_lock_path(tmp_path)(("pre", 0))):
            held.set()
            time.sleep(0.5)
            finished_elsewhere.add(("pre", 0))

    threading.Thread(target=other_process).start()
    held.wait()
    records = run_shared(ITEMS, run_one, _lock_path(tmp_path), _depends_on)

    assert records == ["pre0", "pre1", "tune0", "tune1"]
    # pre 0 was busy: its dependent tune 0 was deferred too, tune 1 ran before both.
    assert order[:2] == [("pre", 1), ("tune", 1)]
    # After waiting, the finished run is read again through run_one (which resumes or loads results).
    assert order[2:] == [("pre", 0), ("tune", 0)]


def test_with_no_one_else_every_item_runs_once_in_order(tmp_path: Path) -> None:
    order: list[tuple[str, int]] = []
    records = run_shared(ITEMS, lambda item: order.append(item) or item, _lock_path(tmp_path), _depends_on)
    assert order == ITEMS and records == ITEMS


def test_two_concurrent_workers_share_the_runs_without_overlap(tmp_path: Path) -> None:
    running: set[tuple[str, int]] = set()
    done: dict[tuple[str, int], int] = {}
    guard = threading.Lock()
    results: dict[int, list] = {}

    def worker(index: int) -> None:
        def run_one(item: tuple[str, int]) -> tuple[str, int]:
            with guard:
                assert item not in running, f"{item} trained by two workers at once"
                dependency = _depends_on(item)
                assert dependency is None or dependency in done
                fresh = item not in done
                running.add(item)
            if fresh:
                time.sleep(0.2)  # training; a finished run is only read back
            with guard:
                running.discard(item)
                done.setdefault(item, index)
            return item

        results[index] = run_shared(ITEMS, run_one, _lock_path(tmp_path), _depends_on)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results[0] == results[1] == ITEMS
    assert set(done.values()) == {0, 1}, "both workers should have trained something"
