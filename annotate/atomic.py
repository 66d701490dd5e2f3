"""Atomic file writes: a reader (or a resumed run) never sees a half-written dataset file.

Every file is written to a temporary sibling in the same folder (so `os.replace` is a rename on
one file system, which POSIX makes atomic), flushed and fsynced, then renamed over the target.
If anything fails, the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from scenesmith.errors import UserError

_FILE_MODE = 0o644  # mkstemp creates 0600; dataset files are meant to be shared.
# Temp files start with this, so readers skip them and a resumed run can sweep up after a kill.
TEMP_PREFIX = ".tmp-"


def remove_stale_temp_files(folder: str | os.PathLike[str], subfolders: Iterable[str] = ()) -> int:
    """Delete temp files a killed writer left in `folder` and its `subfolders` (not deeper); returns
    how many were removed.

    Why not every folder below: other commands write into a dataset folder too (`stats` into
    DATASET/stats, `sheet --out DATASET/x.png`), and a sweep at the start of a resume would delete the
    temp file such a command is writing at that moment."""
    root = Path(folder)
    stale = [p for where in (root, *(root / s for s in subfolders)) for p in where.glob(f"{TEMP_PREFIX}*")]
    stale = [p for p in stale if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


@contextlib.contextmanager
def _temp_sibling(path: Path) -> Iterator[Path]:
    """Yield a fresh temp path next to `path` with the same extension; replace `path` on success.

    The extension is kept because some writers (image and EXR libraries) choose the format
    from it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=path.suffix
        )
    except OSError as exc:
        raise _naming(exc, path) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename not in (None, tmp_name):  # about another file (one a writer read): as it is
            raise
        raise _naming(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _naming(exc: OSError, path: Path) -> OSError:
    """`exc` about the file being written rather than its hidden temp name (`.tmp-000002.png.x1y2.png`),
    which a user cannot find and which is gone by the time the message is read, or no name at all (a
    full disk in write or fsync): the CLI prints the error's file name. Same errno, so the same OSError
    subclass (IsADirectoryError, ...)."""
    return OSError(exc.errno, exc.strerror, str(path)) if exc.errno is not None else exc


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(path: str | os.PathLike[str], writer_fn: Callable[[Path], object]) -> Path:
    """Call `writer_fn(tmp_path)` for libraries that can only write to a path, then rename.

    `tmp_path` is in the same folder as `path` and has the same extension.
    """
    target = Path(path)
    with _temp_sibling(target) as tmp:
        writer_fn(tmp)
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return atomic_save(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically."""
    return atomic_write_bytes(path, text.encode(encoding))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples, sets and paths to JSON types, recursively.

    Non-finite floats become `None` so the output is strict JSON (``NaN`` is not JSON and many
    parsers reject it); ``-0.0`` becomes ``0.0`` so matrices read cleanly.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj) + 0.0
        return value if math.isfinite(value) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    """Serialise `obj` (numpy values allowed, see `to_jsonable`) and write it atomically.

    Serialisation happens before the file is touched, so an unserialisable object leaves no
    trace on disk.
    """
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_json(path: Path) -> Any:
    """The JSON document in `path`, or a UserError naming the file: the counterpart of the writers
    here, for files a user may have damaged or cut short."""
    try:
        return json.loads(Path(path).read_text())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: not valid JSON ({type(exc).__name__}: {exc})") from None
