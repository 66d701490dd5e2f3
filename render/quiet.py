"""Keep Blender's own console chatter ("Saved: ...", driver probes) out of the user's terminal.

Blender prints from C, so `sys.stdout` redirection is not enough: the file descriptors themselves
are pointed at /dev/null for the duration. Set SCENESMITH_BLENDER_LOG=1 to see the output.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def blender_output_silenced(fds: tuple[int, ...] = (1,)) -> Iterator[None]:
    if os.environ.get("SCENESMITH_BLENDER_LOG") == "1":
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
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
