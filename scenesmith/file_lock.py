"""OS file locks (flock) that die with their holder.

Why flock: the kernel drops the lock when the process holding it ends, however it ended (SIGKILL, an
OOM kill, a crashed node's container), so a lock never outlives its owner and nobody has to guess from
a recorded process id (which another pid namespace or a reused id would fool) whether the owner lives.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import BinaryIO

from scenesmith.errors import UserError

# What flock answers when another holder has the lock (some file systems say EACCES).
_HELD = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


def try_lock(path: Path) -> BinaryIO | None:
    """Open `path` (made if missing) and take its exclusive lock without waiting: the open file (the lock
    lasts until it is closed or the process ends), or None when another holder has it.

    The file is opened read-only, so another user may lock a file the first one made (a team's shared
    dataset folder). A lock taken on a file that was removed or replaced meanwhile (its holder cleaned up
    between our open and our lock) is dropped and taken again on the file now there.
    """
    for _ in range(3):
        handle = os.fdopen(os.open(path, os.O_RDONLY | os.O_CREAT, 0o666), "rb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in _HELD:
                return None
            raise UserError(
                f"{path}: cannot lock it ({exc.strerror}); the file system may not support flock "
                "(some network mounts do not): use a local folder"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()
    return None
