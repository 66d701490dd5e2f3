"""One writer per dataset folder.

Two runs writing one folder (a second terminal, a retried batch job) write the same deterministic
files atomically, so no image is damaged; but each run's manifest accounts only its own images and
wall time, and the last one to finish overwrites the other's record. The second run is refused at
once instead. The lock dies with its holder (`try_lock`), so a crash never leaves a folder locked.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from scenesmith.annotate.atomic import TEMP_PREFIX
from scenesmith.errors import UserError
from scenesmith.file_lock import try_lock

WRITER_LOCK = ".writer.lock"


def holds_files(folder: Path) -> bool:
    """Whether `folder` holds anything a run wrote: the writer lock and a killed writer's temp files
    do not count (a folder holding only those is as good as empty)."""
    return folder.is_dir() and any(
        p.name != WRITER_LOCK and not p.name.startswith(TEMP_PREFIX) for p in folder.iterdir()
    )


def clear_run_output(folder: Path, last: str) -> None:
    """Remove everything a run wrote into `folder`, which held nothing when it began (the lock stays),
    the file named `last` (its manifest) after the rest.

    A first run that fails before finishing any image (a full disk while writing image 0) must leave the
    folder as it found it: a half-written sample alone makes the folder look foreign to the rerun. The
    manifest goes last for the same reason: a second Ctrl-C while this runs leaves a folder still known
    as the dataset, not files of no dataset that every rerun refuses.
    """
    for path in sorted(folder.iterdir(), key=lambda path: path.name == last):
        if path.name == WRITER_LOCK or path.name.startswith(TEMP_PREFIX):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextlib.contextmanager
def exclusive_writer(folder: Path) -> Iterator[None]:
    """Hold `folder` (made if missing) as its only writer; refuse when another run writes into it.

    A run that leaves the folder holding nothing (it was refused before writing) takes its lock file
    away again, and the folder too if this call made it: a refusal leaves no trace.
    """
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        handle = try_lock(folder / WRITER_LOCK)
    except UserError:  # no flock on this file system: nothing was written, nothing is left
        _remove_lock(folder, created)
        raise
    if handle is None:
        raise UserError(
            f"{folder}: another scenesmith run is writing into this folder; wait for it to finish "
            "(it resumes from where the other one stopped), or choose another output folder"
        )
    try:
        yield
    finally:
        try:
            if not holds_files(folder):
                _remove_lock(folder, created)
        finally:
            handle.close()


def _remove_lock(folder: Path, created: bool) -> None:
    """Take the lock file (and the folder, if this run made it) away, still holding the lock: no other
    run writes here meanwhile, and one that opened the old file sees it replaced once it has the lock
    (`try_lock`), so two runs never both hold the folder. Best effort: a run that has just made a new
    lock file keeps the folder."""
    try:
        if created:
            for leftover in folder.iterdir():  # a killed writer's temp files, before the lock goes
                if leftover.name.startswith(TEMP_PREFIX):
                    leftover.unlink(missing_ok=True)
        (folder / WRITER_LOCK).unlink(missing_ok=True)
        if created:
            folder.rmdir()
    except OSError:
        pass
