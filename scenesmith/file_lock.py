"""OS file locks (flock) that die with their holder.

Why flock: the kernel drops the lock when the process holding it ends, however it ended (SIGKILL, an
OOM kill, a crashed node's container), so a lock never outlives its owner and nobody has to guess from
a recorded process id (which another pid namespace or a reused id would fool) whether the owner lives.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import TextIO


def try_lock(path: Path) -> TextIO | None:
    """Open `path` (made if missing) and take its exclusive lock without waiting: the open file (the lock
    lasts until it is closed or the process ends), or None when another holder has it."""
    handle = open(path, "a+")  # noqa: SIM115 - returned to the caller, who holds it as the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle
