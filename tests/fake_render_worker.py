"""A bpy-free stand-in for `render.worker.worker_main` that reports a machine with two GPUs.

It lives in its own module because the pool spawns workers: the child imports the target by name.
A job whose description is the string "reject" is refused the way the real worker refuses one.
"""

from __future__ import annotations

import os

import numpy as np

from scenesmith.render.passes import RenderPasses

GPUS = 2


def two_gpu_worker(settings, jobs, results, gpu_index=None, scratch=None) -> None:
    results.send(("ready", os.getpid(), {"device": "GPU", "backend": "OPTIX", "names": ["fake"]}, GPUS))
    _serve(jobs, results, gpu_index)


def _serve(jobs, results, gpu_index) -> None:
    while (job := jobs.get()) is not None:
        results.send(("started", job.index))
        if job.description == "reject":
            results.send(("invalid", job.index, "rejected on purpose"))
            continue
        blank = np.zeros((2, 2), np.float32)
        passes = RenderPasses(
            np.zeros((2, 2, 3), np.uint8), blank.astype(np.int32), blank, np.zeros((2, 2, 3), np.float32),
            settings={"gpu_index": gpu_index},
        )  # fmt: skip
        results.send(("done", job.index, passes, 1.0))


def interrupt_reporting_worker(settings, jobs, results, gpu_index=None, scratch=None) -> None:
    """Reports, as its device's name, whether Ctrl-C was held from it when it started: before any code
    of its own could change that."""
    import signal

    held = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    results.send(("ready", os.getpid(), {"device": "CPU", "names": [f"sigint blocked: {held}"]}, 0))
    _serve(jobs, results, gpu_index)
