"""Share a benchmark's (arm, seed) runs between processes started with the same command.

Why: each training run is single-threaded work that cannot use a second core well, and a user with
N cores wants to start the same resumable command N times and have the runs split between them. A
file lock per run folder says who is training it; a process skips runs that another one holds and
comes back to them at the end (waiting, then resuming or just reading the finished result), so every
process returns the complete set of records and writes the same report. A fine-tune needs its
pretraining's best checkpoint first: it waits for that run rather than start from nothing. Waiting
only ever goes from a run to the run it is initialised from, an acyclic relation, so two processes
cannot deadlock; a process that dies drops its locks and its runs resume elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TypeVar

from filelock import FileLock, Timeout

Item = TypeVar("Item", bound=Hashable)
Record = TypeVar("Record")


def run_shared(
    items: Sequence[Item],
    run_one: Callable[[Item], Record],
    lock_path: Callable[[Item], Path],
    depends_on: Callable[[Item], Item | None],
) -> list[Record]:
    """Run every item (resumable callables), skipping ones locked elsewhere until the end.

    Returns the records in the order of `items`.
    """
    records: dict[Item, Record] = {}

    def finish(item: Item, wait: bool) -> bool:
        path = lock_path(item)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path)
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except Timeout:
            return False
        try:
            dependency = depends_on(item)
            if dependency is not None and dependency not in records:
                if not finish(dependency, wait) and not wait:
                    return False
            records[item] = run_one(item)
        finally:
            lock.release()
        return True

    deferred = [item for item in items if item not in records and not finish(item, wait=False)]
    for item in deferred:
        if item not in records:
            finish(item, wait=True)
    return [records[item] for item in items]
