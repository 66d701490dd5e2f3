"""One writer per dataset folder.

Two runs writing one folder (a second terminal, a retried batch job) write the same deterministic
files atomically, so no image is damaged; but each run's manifest accounts only its own images and
wall time, and the last one to finish overwrites the other's record. The second run is refused at
once instead. The lock dies with its holder (`try_lock`), so a crash never leaves a folder locked.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def exclusive_writer(folder: Path) -> Iterator[None]:
    """Hold `folder` (made if missing) as its only writer; refuse when another run writes into it.

    A folder this call made and left holding nothing (the run was refused before writing) is removed
    again, so a refusal leaves no empty folder behind.
    """
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    handle = try_lock(folder / WRITER_LOCK)
    if handle is None:
        raise UserError(
            f"{folder}: another scenesmith run is writing into this folder; wait for it to finish "
            "(it resumes from where the other one stopped), or choose another output folder"
        )
    try:
        yield
    finally:
        if created and not holds_files(folder):
            # Removed while still locked: a run that opened the old file meanwhile fails to lock it.
            for leftover in folder.iterdir():
                leftover.unlink()
            folder.rmdir()
        handle.close()
