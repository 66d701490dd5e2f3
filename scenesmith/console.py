"""Keep native libraries' console chatter (Blender's "Saved: ...", driver probes, pybullet's
banner) out of the user's terminal.

They print from C, so `sys.stdout` redirection is not enough: the file descriptors themselves are
pointed at /dev/null for the duration. Set SCENESMITH_NATIVE_LOG=1 to see the output.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

_LIBC = ctypes.CDLL(None)


@contextlib.contextmanager
def output_silenced(fds: tuple[int, ...] = (1,)) -> Iterator[None]:
    if os.environ.get("SCENESMITH_NATIVE_LOG") == "1":
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in fds}
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
        yield
    finally:
        # Native stdio buffers (pipes are fully buffered) must drain while still pointed at /dev/null.
        _LIBC.fflush(None)
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
