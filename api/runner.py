"""The job runner: one thread that renders queued jobs one after another on one long-lived pool.

Why one thread and one pool: Blender start-up costs seconds per worker, so the workers stay loaded
across jobs (`LocalPool` as a context manager) and each job's render settings travel with its
images. Jobs run first in, first out; the request loop never waits for them. Every finished image
is appended to the job store's sample log as soon as it is on disk, which is what `status` and the
stream read.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import psutil

from scenesmith.annotate.atomic import atomic_write_text
from scenesmith.api.jobs import Limits, capped_loader, dataset_dir, job_dir, render_overrides_of
from scenesmith.api.protocol import ProtocolError
from scenesmith.api.store import Job, JobStore
from scenesmith.errors import DatasetMismatch, UserError
from scenesmith.procedural.loader import SceneRuleError
from scenesmith.render.pool import LocalPool, PoolConfig, RenderFailed
from scenesmith.render.settings import RenderSettings

log = logging.getLogger(__name__)
WORKERS_FILE = "workers.json"
RETRY_S = 5.0  # pause after a failed step, so a broken disk is not hammered in a loop


class JobRunner(threading.Thread):
    """Claims the oldest queued job, renders it with `generate_dataset`, records the outcome."""

    def __init__(
        self,
        store: JobStore,
        data_root: Path,
        device: str = "auto",
        pool_config: PoolConfig | None = None,
        pool_factory: Callable[[], LocalPool] | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(name="scenesmith-job-runner", daemon=True)
        self.store = store
        self.data_root = Path(data_root)
        self.device = device
        self.limits = limits or Limits()
        self._pool_factory = pool_factory or (
            lambda: LocalPool(RenderSettings(device=device), pool_config or PoolConfig())
        )
        self._wake = threading.Event()
        self._shutdown = threading.Event()
        self._lock = threading.Lock()
        self._current: str | None = None
        self._job_stop: threading.Event | None = None
        self._worker_pids: list[int] = []
        # Bumped on every finished sample and state change; the request loop compares it to decide
        # when a parked stream request may have something new (read without a lock: an int).
        self.version = 0

    # ------------------------------------------------------- called by others
    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        """Stop the job if it is the one rendering (images in flight are finished and kept)."""
        with self._lock:
            if self._current == job_id and self._job_stop is not None:
                self._job_stop.set()

    def shutdown(self, timeout: float = 120.0) -> None:
        """Stop after the images in flight; the interrupted job goes back to the queue."""
        self._shutdown.set()
        with self._lock:
            if self._job_stop is not None:
                self._job_stop.set()
        self._wake.set()
        self.join(timeout)

    # ------------------------------------------------------------- the thread
    def run(self) -> None:
        try:
            with self._pool_factory() as pool:
                while not self._shutdown.is_set():
                    try:
                        self._run_next(pool)
                    except Exception:  # noqa: BLE001 - e.g. a full disk; later jobs may still run
                        log.exception("job runner: a step failed; trying again in %.0f s", RETRY_S)
                        self._shutdown.wait(RETRY_S)
        except Exception:  # noqa: BLE001 - the pool itself failed; logged, the request loop keeps answering
            log.exception("job runner stopped")
        finally:
            self.store.close()

    def _run_next(self, pool: LocalPool) -> None:
        """Run the oldest queued job, if any. A job whose bookkeeping fails (the job store or its
        folder not writable) is marked failed, so it neither stays "running" nor stops the queue."""
        job = self.store.claim_next()
        if job is None:
            self._wake.wait(0.5)
            self._wake.clear()
            return
        self.version += 1
        try:
            self._run_job(job, pool)
        except Exception as exc:
            with self._lock:
                self._current, self._job_stop = None, None
            self.store.set_state(job.id, "failed", f"internal error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.version += 1

    def _run_job(self, job: Job, pool: LocalPool) -> None:
        from scenesmith.pipeline import generate_dataset

        stop = threading.Event()
        with self._lock:
            self._current, self._job_stop = job.id, stop
        if self.store.get(job.id).state == "cancelling" or self._shutdown.is_set():  # type: ignore[union-attr]
            stop.set()
        spec = job.spec
        out = dataset_dir(self.data_root, job.id)
        job_dir(self.data_root, job.id).mkdir(parents=True, exist_ok=True)
        log_finished_images(self.store, self.data_root, job.id)  # a killed server's last images
        log.info("job %s: rendering %d images of %s", job.id, job.total, spec["source"])
        state, error = "complete", None
        try:
            generate_dataset(
                scene=spec["source"],
                overrides=render_overrides_of(spec),
                count=job.total,
                seed=spec["seed"],
                out_dir=out,
                image_format=spec["image_format"],
                device=self.device,
                progress=False,
                workers=pool,
                stop=stop,
                on_sample=lambda index: self._finished(job.id, index, pool),
                load=capped_loader(spec, self.data_root, self.limits),
            )
        except DatasetMismatch as exc:  # e.g. resumed after an upgrade: the CLI's "--out" means nothing here
            state, error = "failed", _unresumable(exc, self.store.get(job.id).done)  # type: ignore[union-attr]
        except (UserError, SceneRuleError, RenderFailed, ValueError, OSError) as exc:
            state, error = "failed", str(exc)
        except ProtocolError as exc:  # a cap, checked again on the rules as they load now
            state, error = "failed", f"{exc.code}: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - a bug must fail the job, not the server
            log.exception("job %s failed", job.id)
            state, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        with self._lock:
            self._current, self._job_stop = None, None
        if state == "complete" and stop.is_set() and self.store.get(job.id).done < job.total:  # type: ignore[union-attr]
            state = "queued" if self._shutdown.is_set() else "cancelled"
        if state == "queued" and self.store.get(job.id).state == "cancelling":  # type: ignore[union-attr]
            state = "cancelled"
        self.store.set_state(job.id, state, error)
        log.info("job %s: %s%s", job.id, state, f" ({error})" if error else "")

    def _finished(self, job_id: str, index: int, pool: LocalPool) -> None:
        self.store.add_samples(job_id, [index])
        self.version += 1
        self._record_workers(pool)

    def _record_workers(self, pool: LocalPool) -> None:
        """Remember the render workers (pid + start time), so a server restarted after a kill -9
        can end the ones its dead predecessor left behind (`reap_orphaned_workers`)."""
        pids = sorted(pool.worker_pids())
        if pids == self._worker_pids:
            return
        self._worker_pids = pids
        records = []
        for pid in pids:
            try:
                records.append({"pid": pid, "create_time": psutil.Process(pid).create_time()})
            except psutil.Error:
                continue
        atomic_write_text(self.data_root / WORKERS_FILE, json.dumps(records))


def recover_interrupted(store: JobStore, data_root: Path) -> list[str]:
    """After a restart: queue the jobs that were running again, cancel those that were cancelling, and
    log the images each finished on disk after its last log entry. Returns the re-queued job ids.

    Why every one of them now: a cancelled job never runs again, and a re-queued one can wait behind
    others (or be cancelled while it waits) before its runner would log them; until logged, an image is
    neither listed, streamed nor fetched."""
    requeued, cancelled = store.requeue_interrupted()
    for job_id in requeued + cancelled:
        log_finished_images(store, data_root, job_id)
    return requeued


def log_finished_images(store: JobStore, data_root: Path, job_id: str) -> None:
    """Log the images of a job finished on disk after its last log entry (the server was killed
    between an image's write and its log entry), so they are listed, streamed and fetched."""
    from scenesmith.annotate.dataset_writer import completed_indices

    job, out = store.get(job_id), dataset_dir(data_root, job_id)
    if job is not None and out.is_dir():
        store.add_samples(
            job_id, sorted(i for i in completed_indices(out) if i < job.total), rendered_now=False
        )


def _unresumable(exc: DatasetMismatch, done: int) -> str:
    """Why a job's own folder cannot take more images, in the job owner's terms (the CLI's advice,
    "--device" or "--out", means nothing to them)."""
    device = (
        " (or ask the server's operator to render on the device they were made on)"
        if "renderer" in exc.differing
        else ""
    )
    return (
        f"cannot resume: the job's {done} finished images were made with other rules, another "
        f"scenesmith version or another renderer than this server now uses (differs in: "
        f"{', '.join(exc.differing)}), and one dataset never mixes them; fetch what is finished, and "
        f"submit the job again for a new set{device}"
    )


def reap_orphaned_workers(data_root: Path) -> int:
    """End render workers recorded by a previous server on this data root (it holds the data-root
    lock, so that server is gone). Matching the start time makes a reused pid safe."""
    path = Path(data_root) / WORKERS_FILE
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    ended = 0
    for record in records if isinstance(records, list) else []:
        try:
            process = psutil.Process(int(record["pid"]))
            if abs(process.create_time() - float(record["create_time"])) > 0.01:
                continue
            process.kill()
            process.wait(10)
            ended += 1
        except (psutil.Error, KeyError, TypeError, ValueError):
            continue
    path.unlink(missing_ok=True)
    if ended:
        log.info("ended %d render worker(s) left by a previous server", ended)
    return ended
