"""A pool of persistent render workers that never loses or duplicates an image.

The coordinator (this module, in the caller's process) hands each worker a few jobs ahead
(`prefetch`), so a worker starts its next image the moment it finishes one; scene building and
file writing happen in the caller's threads meanwhile (see `scenesmith.pipeline`). It watches every
worker: one that dies, or spends longer than `timeout_s` on one image, is killed and replaced, and
the images it held go back to the front of the queue; an image that takes down `max_attempts`
workers stops the run with an error naming it. Workers are recycled (replaced by a fresh process)
after `recycle_after` images or above `max_rss_mb`; the replacement starts loading Blender while the
old worker finishes its queue, so recycling costs no render time.

Results come back in completion order; the caller writes each under its index, so the dataset is
the same whichever worker rendered what.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Protocol

from scenesmith.errors import UserError
from scenesmith.render.devices import check_device, describe_device
from scenesmith.render.scratch import Scratch
from scenesmith.render.settings import RenderSettings
from scenesmith.render.worker import RenderJob, RenderResult, worker_main

log = logging.getLogger(__name__)


class RenderPool(Protocol):
    """What the pipeline needs from a backend: every job rendered once, results as they finish."""

    events: list[str]

    def run(self, jobs: Iterable[RenderJob]) -> Iterator[RenderResult]: ...


BACKENDS = ("local", "ray")


def open_pool(
    backend: str, settings: RenderSettings, config: PoolConfig | None = None, address: str | None = None
) -> RenderPool:
    """The render backend by name: "local" (processes on this machine) or "ray" (Ray actors)."""
    check_backend(backend, address)
    if backend == "local":
        return LocalPool(settings, config)
    if backend == "ray":
        from scenesmith.render.ray_pool import RayPool  # Ray is optional: imported only when asked for

        return RayPool(settings, config, address)
    raise AssertionError(backend)  # check_backend refused it


def check_backend(backend: str, address: str | None) -> None:
    """Refuse a backend and address that cannot go together, before any folder or manifest is made."""
    if backend not in BACKENDS:
        raise UserError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "local" and address is not None:
        raise UserError(f"--address {address}: only for --backend ray (the local backend renders here)")


class RenderFailed(RuntimeError):
    """An image could not be rendered (it kept killing workers, or the renderer rejected it)."""


class DescriptionRejected(RenderFailed):
    """The renderer refused an image's description. Descriptions are a pure function of the rules and
    the seed, so running the same command again meets the same refusal: the rules must change."""


@dataclass(frozen=True)
class PoolConfig:
    """How many workers, and when a worker is replaced.

    workers: processes; None = one per GPU found (the first worker probes), 1 on CPU.
    recycle_after: images per worker before it is replaced by a fresh one (0 = never).
    max_rss_mb: replace a worker whose resident memory exceeds this (0 = never).
    timeout_s: longest one image (or a worker's start-up) may take before the worker counts as hung.
    max_attempts: workers one image may take down before the run stops.
    prefetch: jobs queued per worker, so it never waits for its next image.
    """

    workers: int | None = None
    recycle_after: int = 0
    max_rss_mb: float = 0.0
    timeout_s: float = 600.0
    max_attempts: int = 3
    prefetch: int = 2

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.recycle_after < 0 or self.max_rss_mb < 0:
            raise ValueError("recycle_after and max_rss_mb must be >= 0 (0 = never)")
        if self.timeout_s <= 0 or self.max_attempts < 1 or self.prefetch < 1:
            raise ValueError("timeout_s must be > 0, max_attempts and prefetch >= 1")


@dataclass
class FailureLog:
    """What lost workers cost a run, and when it must stop: one rule for every backend."""

    max_attempts: int
    events: list[str]
    per_image: dict[int, int] = field(default_factory=dict)
    start_failures: int = 0  # in a row: a worker that starts ends the streak

    def worker_started(self) -> None:
        """A worker came up: Blender can start here. Losses hours apart (an OOM kill of a replacement
        while its predecessor still ran) must not add up to 'workers fail to start'."""
        self.start_failures = 0

    def worker_lost(self, message: str, was_ready: bool, current: int | None, requeued: int) -> None:
        """Record a dead or hung worker; raise RenderFailed when Blender cannot start or one image
        keeps taking workers down (`current`: the image it was rendering, which counts a failure)."""
        if not was_ready:
            self.start_failures += 1
            if self.start_failures >= self.max_attempts:
                raise RenderFailed(f"render workers fail to start ({message}); see the error above")
        if current is not None:
            self.per_image[current] = self.per_image.get(current, 0) + 1
            message += f" while rendering image {current}"
            if self.per_image[current] >= self.max_attempts:
                raise RenderFailed(
                    f"image {current} took down {self.per_image[current]} render workers; last: {message}"
                )
        log.warning("%s; %d image(s) re-queued", message, requeued)
        self.events.append(message)


def take_job(source: Iterator[RenderJob], queue: deque[RenderJob]) -> RenderJob | None:
    """The next job to hand out: a re-queued one first, else a new one (None: none left)."""
    return queue.popleft() if queue else next(source, None)


def recycle_reason(config: PoolConfig, rendered: int, rss_mb: float) -> str | None:
    """Why a worker that has rendered `rendered` images and holds `rss_mb` should be replaced, if so."""
    if config.recycle_after and rendered >= config.recycle_after:
        return f"{rendered} images"
    if config.max_rss_mb and rss_mb > config.max_rss_mb:
        return f"RSS {rss_mb:.0f} MB"
    return None


@dataclass
class _Worker:
    serial: int
    gpu_index: int | None
    process: mp.process.BaseProcess
    jobs: mp.Queue
    conn: Connection
    assigned: dict[int, RenderJob] = field(default_factory=dict)
    last_heard: float = 0.0  # a worker with jobs that stays silent longer than timeout_s is hung
    current: int | None = None  # the image it is rendering
    rendered: int = 0
    retiring: bool = False
    pid: int | None = None


@contextmanager
def _interrupts_held_from_children() -> Iterator[None]:
    """Start processes with Ctrl-C (SIGINT) blocked, which they keep (a signal mask survives fork and
    exec): a spawned worker imports for seconds before `worker_main` ignores it itself, and a Ctrl-C
    then printed the child's traceback. The parent alone handles it. Blocked in this thread only, from
    any thread (the API server starts workers from its runner), and a Ctrl-C meanwhile waits for this
    process rather than being lost."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class LocalPool:
    """Render jobs on persistent worker processes on this machine (the default backend).

    Used plainly, `run()` starts the workers and stops them when its jobs are done. Used as a
    context manager, the workers outlive each `run()` (Blender stays loaded between datasets, as
    the API server needs) and stop at exit; jobs then carry their own dataset's render settings.
    """

    def __init__(self, settings: RenderSettings, config: PoolConfig | None = None) -> None:
        self.settings = settings
        self.config = config or PoolConfig()
        self._context = mp.get_context("spawn")  # a fresh interpreter: bpy does not survive fork
        self._workers: list[_Worker] = []
        self._serial = 0
        self._gpu_count: int | None = None  # GPUs the first worker found, once it scaled the pool out
        self.devices: list[dict] = []  # what each worker reported at start-up
        self.events: list[str] = []  # crashes, hangs and recycles of the current run, for its record
        self._keep_alive = False
        self._scratch: Scratch | None = None  # the workers' temp folder, while any worker runs

    def __enter__(self) -> LocalPool:
        self._keep_alive = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker (waiting for idle ones to close Blender cleanly)."""
        self._keep_alive = False
        for worker in list(self._workers):
            self._stop(worker, kill=bool(worker.assigned) or not worker.process.is_alive())
        self._drop_scratch()

    # ---------------------------------------------------------------- workers
    def _start(self, gpu_index: int | None) -> _Worker:
        if self._scratch is None:
            self._scratch = Scratch()
        scratch = self._scratch.ensure()  # a temp cleaner may have taken it meanwhile
        jobs = self._context.Queue()
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker_main,
            args=(self.settings, jobs, sender, gpu_index, str(scratch)),
            name=f"scenesmith-render-{self._serial}",
            daemon=True,
        )
        with _interrupts_held_from_children():
            process.start()
        sender.close()  # only the worker holds the sending end: its death reads as EOF here
        worker = _Worker(self._serial, gpu_index, process, jobs, receiver, last_heard=time.monotonic())
        self._serial += 1
        self._workers.append(worker)
        return worker

    def _stop(self, worker: _Worker, kill: bool) -> None:
        if kill:
            worker.process.kill()
        else:
            worker.jobs.put(None)
        worker.process.join(timeout=None if kill else 30)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.jobs.cancel_join_thread()  # a dead reader must not make this process hang at exit
        worker.jobs.close()
        worker.conn.close()
        self._workers.remove(worker)

    def _drop_scratch(self) -> None:
        if self._scratch is not None:
            self._scratch.release()
            self._scratch = None

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring, and for tests that kill one)."""
        return [w.pid for w in self._workers if w.pid is not None]

    # -------------------------------------------------------------------- run
    def run(self, jobs: Iterable[RenderJob]) -> Iterator[RenderResult]:
        """Render every job exactly once, yielding results as they finish (in completion order)."""
        source = iter(jobs)
        queue: deque[RenderJob] = deque()  # re-queued jobs go first
        self.events = []
        failures = FailureLog(self.config.max_attempts, self.events)
        exhausted = False
        self._top_up()
        try:
            while True:
                exhausted = self._assign(source, queue) or exhausted
                if exhausted and not queue and not any(w.assigned for w in self._workers):
                    return
                ready = wait([w.conn for w in self._workers], timeout=0.5)
                for worker in [w for w in self._workers if w.conn in ready]:
                    yield from self._receive(worker, queue, failures)
                self._check_health(queue, failures)
        finally:
            # Workers still holding jobs of an abandoned run would answer the next run with them.
            for worker in list(self._workers):
                if worker.assigned or not self._keep_alive:
                    self._stop(worker, kill=bool(worker.assigned) or not worker.process.is_alive())
            if not self._workers:
                self._drop_scratch()

    def _assign(self, source: Iterator[RenderJob], queue: deque[RenderJob]) -> bool:
        """Top up every active worker to `prefetch` jobs; return True when there is no job left."""
        for worker in self._workers:
            while not worker.retiring and len(worker.assigned) < self.config.prefetch:
                job = take_job(source, queue)
                if job is None:
                    return True
                if not worker.assigned:
                    worker.last_heard = time.monotonic()
                worker.assigned[job.index] = job
                worker.jobs.put(job)
        return False

    def _receive(
        self, worker: _Worker, queue: deque[RenderJob], failures: FailureLog
    ) -> Iterator[RenderResult]:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)  # it is exiting: wait for its exit code, for the record
            self._lost(worker, queue, failures, f"exited with code {worker.process.exitcode}")
            return
        worker.last_heard = time.monotonic()
        kind = message[0]
        if kind == "ready":
            _, worker.pid, device, gpu_count = message
            check_device(self.settings.device, device, f"(pid {worker.pid})")
            failures.worker_started()
            if device not in self.devices:  # once per kind of device, not once per worker
                log.info("Cycles renders on %s", describe_device(device))
            self.devices.append(device)
            self._scale_to_gpus(device, gpu_count)
        elif kind == "started":
            worker.current = message[1]
        elif kind == "failed":  # it is ending: lost now, so it is given no more jobs meanwhile
            worker.process.join(timeout=5)
            self._lost(
                worker, queue, failures, f"exited with code {worker.process.exitcode} after {message[2]}"
            )
        elif kind == "invalid":
            raise DescriptionRejected(
                f"image {message[1]}: the renderer rejected its description: {message[2]}"
            )
        elif kind == "done":
            _, index, passes, rss_mb = message
            job = worker.assigned.pop(index)
            worker.current, worker.rendered = None, worker.rendered + 1
            yield RenderResult(job, passes, worker.serial, rss_mb, worker.rendered)
            self._maybe_recycle(worker, rss_mb)

    def _top_up(self) -> None:
        """Start a worker for each slot that has none: a failed run kills the workers holding its jobs,
        and a kept-alive pool (the API server's) must not render on fewer GPUs from then on."""
        slots = self._gpu_count or self.config.workers or 1
        held = {worker.gpu_index for worker in self._workers if not worker.retiring}
        for gpu in range(slots):
            if gpu not in held:
                self._start(gpu)

    def _scale_to_gpus(self, device: dict, gpu_count: int) -> None:
        """With workers=None, the first worker's probe decides: one worker per GPU it found."""
        if self.config.workers is not None or self._gpu_count is not None or device["device"] != "GPU":
            return
        self._gpu_count = gpu_count
        self._top_up()

    def _maybe_recycle(self, worker: _Worker, rss_mb: float) -> None:
        reason = recycle_reason(self.config, worker.rendered, rss_mb)
        if worker.retiring or reason is None:
            return
        worker.retiring = True
        self.events.append(f"worker {worker.serial} recycled after {reason}")
        log.info("recycling render worker %d after %s", worker.serial, reason)
        self._start(worker.gpu_index)  # loads Blender while the old one finishes its queue

    def _check_health(self, queue: deque[RenderJob], failures: FailureLog) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.retiring and not worker.assigned:
                self._stop(worker, kill=False)
            elif worker.assigned and now - worker.last_heard > self.config.timeout_s:
                worker.process.kill()
                self._lost(worker, queue, failures, f"hung for more than {self.config.timeout_s:g} s")

    def _lost(self, worker: _Worker, queue: deque[RenderJob], failures: FailureLog, why: str) -> None:
        """A worker died or hung: re-queue its images (the one it was rendering counts a failure)."""
        jobs = list(worker.assigned.values())
        message = f"render worker {worker.serial} (pid {worker.pid or worker.process.pid}) {why}"
        failures.worker_lost(message, worker.pid is not None, worker.current, len(jobs))
        queue.extendleft(reversed(jobs))
        worker.assigned.clear()
        self._stop(worker, kill=True)
        if not any(w.gpu_index == worker.gpu_index and not w.retiring for w in self._workers):
            self._start(worker.gpu_index)
