"""One persistent render worker: a process that keeps Blender loaded and renders image after image.

Why a process per worker: bpy is one global Blender per process, a crash inside Cycles takes the
whole process with it, and memory Blender does not give back is only reclaimed when a process ends.
So the coordinator (`pool.py`) owns the dataset and every file; a worker only turns descriptions into
passes and can be killed, replaced or recycled at any moment without losing anything.

Messages to the coordinator go over the worker's own one-way pipe (never a shared queue): if the
worker dies in the middle of a message, only its own pipe is broken and the coordinator sees EOF.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from scenesmith.procedural.description import SceneDescription
from scenesmith.render.passes import RenderPasses
from scenesmith.render.settings import RenderSettings
from scenesmith.render.validate import InvalidDescription

# How often a worker checks that its coordinator is still alive.
PARENT_CHECK_S = 1.0

if TYPE_CHECKING:
    from scenesmith.render.blender import BlenderRenderer


@dataclass(frozen=True)
class RenderJob:
    """One image to render: its dataset index and its (already built) scene description."""

    index: int
    description: SceneDescription
    build_seconds: float = 0.0
    # The dataset's render settings. A long-lived pool (the API server's) renders jobs of several
    # datasets one after another; None keeps the settings the worker started with.
    settings: RenderSettings | None = None


@dataclass
class RenderResult:
    """A rendered job, with which worker made it and how big that worker was afterwards."""

    job: RenderJob
    passes: RenderPasses
    worker: int
    rss_mb: float
    worker_images: int


def _forget_parent_blender_paths() -> None:
    """Drop Blender's script folders from the sys.path a spawned worker inherits from its parent.

    Why: a parent that has imported bpy has them on its sys.path, and there the folder
    `bpy/<version>/scripts/modules/bpy` shadows the real package (`No module named '_bpy'`).
    Importing bpy in the worker adds them back in the right order.
    """
    sys.path[:] = [p for p in sys.path if not {"bpy", "scripts"} <= set(Path(p).parts)]


def _exit_with_parent(parent: int) -> None:
    """Watchdog thread: end this worker as soon as its coordinator is gone (e.g. killed with -9).

    Why a thread and not a check between jobs: the worker can be blocked where no check runs. The job
    queue's pipe has its write end open in this process too, so a coordinator killed halfway through
    writing a (large) job leaves the worker waiting forever for the rest of it; and a render nobody
    will collect is minutes of wasted work. The worker owns no files, so exiting at once loses nothing.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _send(results: Connection, message: tuple) -> bool:
    """Send `message` to the coordinator; False when it is gone, so the worker stops.

    Why: a coordinator killed just before a message, before the watchdog notices, would otherwise end
    the worker with a BrokenPipeError traceback in the log it shares; there is nobody left to tell.
    """
    try:
        results.send(message)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def _render_message(
    renderer: BlenderRenderer, job: RenderJob, default: RenderSettings, process: psutil.Process
) -> tuple:
    """The coordinator's message for one job: ("done", index, passes, rss_mb), or "invalid" and why."""
    try:
        passes = render_job(renderer, job, default)
    except InvalidDescription as exc:
        return ("invalid", job.index, str(exc))
    return ("done", job.index, passes, process.memory_info().rss / 2**20)


def failure_summary(exc: BaseException) -> str:
    """One line for the run's record: what ended a worker, so the run's error can say why."""
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}"[:300]


def render_job(renderer: BlenderRenderer, job: RenderJob, default: RenderSettings) -> RenderPasses:
    """Render one job with its own settings, or `default` (the worker's own) when it has none.

    The device stays the one the renderer picked at start-up, and so does the thread count: how many
    cores a render may use depends on where it runs (a Ray actor's share of its node), not on the job.
    """
    os.makedirs(tempfile.gettempdir(), exist_ok=True)  # the pool's temp folder, if a cleaner took it
    wanted = replace(job.settings, threads=default.threads) if job.settings else default
    if wanted != renderer.settings:
        wanted.validate()
        renderer.settings = wanted
    return renderer.render(job.description)


def worker_main(
    settings: RenderSettings,
    jobs: Queue,
    results: Connection,
    gpu_index: int | None = None,
    scratch: str | None = None,
) -> None:
    """Entry point of a worker process: render every job from `jobs` until it receives None.

    `scratch`: the temp folder for this worker and the Blender it loads (the pool removes it).

    Sends ("ready", pid, device dict, GPUs found), then per job ("started", index) and either
    ("done", index, passes, rss_mb) or ("invalid", index, message) for a description the renderer
    rejects. Any other failure ends the process, after ("failed", index or None at start-up, summary)
    so that the coordinator, which re-queues its images, can say what went wrong; the traceback goes
    to stderr for whoever debugs it.
    """
    # Ctrl-C reaches the whole process group; the coordinator decides what stops, not each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _forget_parent_blender_paths()
    if scratch is not None:  # before bpy is imported: Blender reads TMPDIR once, at start-up
        os.environ["TMPDIR"] = tempfile.tempdir = scratch
    try:
        from scenesmith.render.blender import BlenderRenderer  # imports bpy: only in the worker

        renderer = BlenderRenderer(settings, gpu_index=gpu_index)
    except Exception as exc:
        _send(results, ("failed", None, failure_summary(exc)))
        raise
    process = psutil.Process()
    connected = _send(results, ("ready", os.getpid(), renderer.device.as_dict(), renderer.gpu_count))
    while connected and (job := jobs.get()) is not None:
        # No render once the coordinator is known to be gone: "started" failing skips it.
        connected = _send(results, ("started", job.index))
        if not connected:
            break
        try:
            message = _render_message(renderer, job, settings, process)
        except Exception as exc:  # the worker's state is not to be trusted after it: it ends
            _send(results, ("failed", job.index, failure_summary(exc)))
            raise
        connected = _send(results, message)
    renderer.close()
    results.close()
