"""Temp folders for render workers, removed even when their owner is killed.

Blender writes its session folder and a full-size EXR per render into the temp folder. A worker
killed mid-render (hung, crashed, or stopped with its run) never removes them, and neither does a
coordinator or a Ray actor killed outright. So every folder carries a lock its owner holds for as
long as it lives (`try_lock`: the kernel drops it when the owner dies, however it dies), and whoever
makes a new folder on that machine first removes the folders whose lock nobody holds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from scenesmith.errors import UserError
from scenesmith.file_lock import try_lock

SCRATCH_PREFIX = "scenesmith_pool_"
OWNER_LOCK = ".owner.lock"


class Scratch:
    """A temp folder held by this process until `release` (or until the process ends)."""

    def __init__(self) -> None:
        sweep_abandoned()
        self.path = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        self._lock = _claim(self.path)

    def ensure(self) -> Path:
        """The folder, made and claimed again if a temp cleaner removed it meanwhile."""
        if not (self.path / OWNER_LOCK).is_file():
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock.close()
            self._lock = _claim(self.path)
        return self.path

    def release(self) -> None:
        """Remove the folder; its lock goes last, so no sweeper takes a folder still being removed."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()


def _claim(folder: Path) -> BinaryIO:
    """Lock the owner file under another name, then move it into place: a sweeper never finds it
    unlocked (a folder without it is one being made, and is left alone)."""
    staging = folder / f"{OWNER_LOCK}.{os.getpid()}"
    handle = try_lock(staging)  # UserError where the temp folder's file system has no flock
    if handle is None:  # a new file in a folder only this process knows of
        raise RuntimeError(f"{staging}: could not lock a file just made")
    os.replace(staging, folder / OWNER_LOCK)
    return handle


def sweep_abandoned(root: Path | None = None) -> int:
    """Remove the scratch folders under `root` (the temp folder) whose owner is gone; return how many.

    A folder whose lock cannot be opened (another user's) or is held (a live owner, here or in another
    container sharing the folder) is left, as is one without a lock file (being made right now).
    """
    removed = 0
    for folder in Path(root or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:  # is_file too: Python 3.11 raises on a folder this user may not enter
            handle = try_lock(folder / OWNER_LOCK) if (folder / OWNER_LOCK).is_file() else None
        except (OSError, UserError):
            continue
        if handle is None:
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        finally:
            handle.close()
    return removed
