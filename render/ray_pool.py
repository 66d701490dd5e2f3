"""The Ray backend: the same never-lose, never-duplicate render pool, with Ray actors as workers.

Why Ray: one machine's GPUs are not enough for a large dataset; Ray places one render actor per GPU
(or one per node on CPU) across a cluster, while this process stays the only one that builds
descriptions and writes files. So the dataset is byte-for-byte the one the local backend writes.

It keeps `LocalPool`'s guarantees (see `pool.py`) with Ray's means: each actor keeps Blender
loaded (an actor is one long-lived process, like a local worker); up to `prefetch` render calls are
queued on each actor (Ray runs one caller's calls on an actor in order, so the oldest call in flight
is the image being rendered); an actor that dies, fails, or spends longer than `timeout_s` on one
image is killed and replaced, and its images go back to the front of the queue; an image that
takes down `max_attempts` actors stops the run with an error naming it. Actors are recycled after
`recycle_after` images or above `max_rss_mb` (reported with every result).

Ray is imported only here, and only when this backend is asked for: the default backend must not
need it. Every node of a cluster needs the same scenesmith (with bpy) installed; actors check it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import psutil

import scenesmith
from scenesmith.errors import UserError
from scenesmith.render.devices import check_device, describe_device
from scenesmith.render.pool import (
    DescriptionRejected,
    FailureLog,
    PoolConfig,
    RenderFailed,
    recycle_reason,
    take_job,
)
from scenesmith.render.scratch import Scratch
from scenesmith.render.settings import RenderSettings
from scenesmith.render.validate import InvalidDescription
from scenesmith.render.worker import RenderJob, RenderResult, _forget_parent_blender_paths, render_job

log = logging.getLogger(__name__)

# How long one ray.wait blocks before the coordinator looks for hung actors again.
POLL_S = 0.5
CLOSE_TIMEOUT_S = 30.0  # an idle actor closing Blender and removing its temp folder


def _import_ray() -> ModuleType:
    """Ray, or a message that says how to get it (it is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'scenesmith[ray]'") from None
    return ray


def _summary(exc: Exception) -> str:
    """One line for the run's record: the actor's own exception if Ray wraps a traceback, else Ray's."""
    lines = [_ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    raised = [line for line in lines if _RAISED.match(line)]
    text = raised[-1] if raised else next((line for line in lines if line), "")
    return f"{type(exc).__name__}: {text}"[:300]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit): ")


class _RenderActor:
    """Body of one Ray actor: a BlenderRenderer kept loaded for the actor's whole life.

    Plain class here; `ray.remote` wraps it at run time, so importing this module needs no Ray.
    Same contract as `worker_main`: an InvalidDescription (the renderer rejects a description) is
    answered, anything else fails the call and the coordinator replaces the actor.
    """

    def __init__(self, settings: RenderSettings, gpu_index: int | None) -> None:
        # A Ray worker may inherit the driver's sys.path, Blender's script folders included.
        _forget_parent_blender_paths()
        # Its own temp folder on this node, for Blender too (which reads TMPDIR once, when bpy loads).
        # Making it first removes the folders that actors killed on this node left behind.
        self._scratch = Scratch()
        os.environ["TMPDIR"] = tempfile.tempdir = str(self._scratch.path)
        from scenesmith.render.blender import BlenderRenderer  # imports bpy: only in the actor

        self._settings = settings
        self._renderer = BlenderRenderer(settings, gpu_index=gpu_index)
        self._process = psutil.Process()

    def ready(self) -> dict[str, Any]:
        """Who and what this actor is; the first call, so its answer also means Blender loaded."""
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "device": self._renderer.device.as_dict(),
            "gpu_count": self._renderer.gpu_count,
            "version": scenesmith.__version__,
        }

    def render(self, job: RenderJob) -> tuple[str, Any, float]:
        """("done", passes, rss_mb) or ("invalid", message, rss_mb)."""
        self._scratch.ensure()  # a temp cleaner may have taken it meanwhile
        try:
            passes = render_job(self._renderer, job, self._settings)
        except InvalidDescription as exc:
            return "invalid", str(exc), self._rss_mb()
        return "done", passes, self._rss_mb()

    def close(self) -> None:
        """Close Blender and remove the temp folder: the last call of an actor stopped while idle."""
        self._renderer.close()
        self._scratch.release()

    def _rss_mb(self) -> float:
        return self._process.memory_info().rss / 2**20


@dataclass(frozen=True)
class _Slot:
    """Where an actor runs; a replacement goes to the same slot (same resources, same node)."""

    options: dict[str, Any]
    gpu_index: int | None
    threads: int  # Cycles threads: the CPUs the actor reserves on CPU (0 = Blender decides)
    where: str


@dataclass
class _Actor:
    serial: int
    slot: int
    handle: Any
    # Calls in submission order (= execution order); job None is the ready() probe.
    inflight: deque[tuple[Any, RenderJob | None]] = field(default_factory=deque)
    last_heard: float = 0.0  # an actor with calls in flight that stays silent longer is hung
    pid: int | None = None
    host: str | None = None
    rendered: int = 0
    retiring: bool = False

    def jobs(self) -> list[RenderJob]:
        return [job for _, job in self.inflight if job is not None]


REACH_TIMEOUT_S = 10.0


def check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Refuse a `host:port` (or `ray://host:port`) no TCP connection reaches within `timeout_s`.

    Why before `ray.init`: given a refused or silent port, Ray 2.60 retries for minutes without a word
    (measured: over 200 s for a closed local port). `auto`, and an address without a port, are left to
    Ray, which finds those itself.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        reason = f"no answer within {timeout_s:g} s" if isinstance(exc, TimeoutError) else exc.strerror or exc
        raise UserError(
            f"--address {address}: cannot reach a Ray head there ({reason}); "
            "start one with `ray start --head` on that machine, or give its address as `ray status` prints it"
        ) from None


class RayPool:
    """Render jobs on Ray actors: one per GPU of the cluster, else one per node on CPU."""

    def __init__(
        self, settings: RenderSettings, config: PoolConfig | None = None, address: str | None = None
    ) -> None:
        self._ray = _import_ray()  # fail at once, before any scene is built
        self.settings = settings
        self.config = config or PoolConfig()
        self.address = address
        self._actors: list[_Actor] = []
        self._slots: list[_Slot] = []
        self._serial = 0
        self._actor_class: Any = None  # _RenderActor made remote once per pool (exported to Ray once)
        self.devices: list[dict] = []  # what each actor reported at start-up
        self.events: list[str] = []  # crashes, hangs and recycles, for the run's record

    # ----------------------------------------------------------------- cluster
    def _connect(self) -> bool:
        """Join the given cluster, or start a local Ray; return whether this pool started it."""
        ray = self._ray
        if ray.is_initialized():
            return False  # the caller's Ray (and its address) wins; it also shuts it down
        # ray.init replaces the SIGTERM handler with a bare exit; the caller's (the CLI's: stop the run
        # through its `finally` blocks) is put back. signal is only usable from the main thread.
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGTERM) if main_thread else None
        if self.address is not None:
            check_reachable(self.address)
        try:
            if self.address is not None:
                ray.init(address=self.address)
            else:
                ray.init(include_dashboard=False)
        except ConnectionError as exc:
            if self.address is None:
                raise
            raise UserError(f"--address {self.address}: {exc}") from None  # something answers, no Ray head
        finally:  # put back even when ray.init failed after replacing it
            if main_thread and previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return True

    def _plan(self) -> list[_Slot]:
        """One slot per GPU when the cluster has GPUs, else one per node on CPU (`workers` overrides)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n for n in self._ray.nodes() if n.get("Alive")]
        gpus = int(sum(n["Resources"].get("GPU", 0) for n in nodes))
        if gpus and self.settings.device != "cpu":
            count = self.config.workers or gpus
            # More actors than GPUs share them evenly; Ray sets CUDA_VISIBLE_DEVICES to the one given.
            share = 1.0 / math.ceil(count / gpus)
            options = {"num_gpus": share, "num_cpus": 1}
            return [_Slot(options, gpu_index=0, threads=self.settings.threads, where="GPU")] * count
        cpu_nodes = [n for n in nodes if n["Resources"].get("CPU", 0) >= 1]
        if not cpu_nodes:
            raise RenderFailed("the Ray cluster has no node with a CPU or GPU to render on")
        count = self.config.workers or len(cpu_nodes)
        per_node = [count // len(cpu_nodes) + (i < count % len(cpu_nodes)) for i in range(len(cpu_nodes))]
        slots = []
        for i in range(count):
            node = cpu_nodes[i % len(cpu_nodes)]
            # The node's CPUs are shared among its actors, and Cycles is told to use just those.
            cpus = max(1, int(node["Resources"]["CPU"]) // per_node[i % len(cpu_nodes)])
            # soft: if the node is gone, a replacement may go to another node with room.
            strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=True)
            options = {"num_cpus": cpus, "scheduling_strategy": strategy}
            threads = self.settings.threads or cpus
            slots.append(_Slot(options, gpu_index=None, threads=threads, where=f"CPU x{cpus}"))
        return slots

    # ----------------------------------------------------------------- actors
    def _start(self, slot: int) -> _Actor:
        spec = self._slots[slot]
        if self._actor_class is None:
            self._actor_class = self._ray.remote(_RenderActor)
        remote = self._actor_class.options(max_restarts=0, max_concurrency=1, **spec.options)
        handle = remote.remote(replace(self.settings, threads=spec.threads), spec.gpu_index)
        actor = _Actor(self._serial, slot, handle, last_heard=time.monotonic())
        actor.inflight.append((handle.ready.remote(), None))
        self._serial += 1
        self._actors.append(actor)
        return actor

    def _stop(self, actor: _Actor) -> None:
        """Kill the actor (its calls in flight are dropped; the caller re-queued what it needed).

        An idle actor first closes Blender and removes its temp folder; one that is busy, hung or dead
        leaves the folder to the next actor started on its node (`sweep_abandoned`).
        """
        if actor.pid is not None and not actor.inflight:
            try:
                self._ray.get(actor.handle.close.remote(), timeout=CLOSE_TIMEOUT_S)
            except Exception as exc:  # it died meanwhile: the kill below is all there is left to do
                log.debug("closing render actor %d: %s", actor.serial, exc)
        try:
            self._ray.kill(actor.handle, no_restart=True)
        except Exception as exc:  # already gone: nothing left to stop
            log.debug("ray.kill of render actor %d: %s", actor.serial, exc)
        actor.inflight.clear()
        self._actors.remove(actor)
        for other in self._actors:
            if other.slot == actor.slot and other.pid is None:
                # Its start may have waited for the CPUs this actor held: count from now.
                other.last_heard = time.monotonic()

    def worker_pids(self) -> list[int]:
        """Process ids of the live actors (for monitoring, and for tests that kill one)."""
        return [a.pid for a in self._actors if a.pid is not None]

    # -------------------------------------------------------------------- run
    def run(self, jobs: Iterable[RenderJob]) -> Iterator[RenderResult]:
        """Render every job exactly once, yielding results as they finish (in completion order)."""
        started_ray = self._connect()
        source = iter(jobs)
        queue: deque[RenderJob] = deque()  # re-queued jobs go first
        self.events = []  # this run's: a reused pool must not carry the last run's into this record
        failures = FailureLog(self.config.max_attempts, self.events)
        exhausted = False
        try:
            self._slots = self._plan()
            log.info("Ray render actors: %s", ", ".join(s.where for s in self._slots))
            for slot in range(len(self._slots)):
                self._start(slot)
            while True:
                exhausted = self._assign(source, queue) or exhausted
                if exhausted and not queue and not any(a.jobs() for a in self._actors):
                    return
                ready = self._wait()
                for actor in list(self._actors):
                    yield from self._receive(actor, ready, queue, failures)
                self._check_health(queue, failures)
        finally:
            for actor in list(self._actors):
                self._stop(actor)
            if started_ray:
                self._ray.shutdown()

    def _wait(self) -> set[Any]:
        """Every call that has finished, waiting up to POLL_S for the first."""
        refs = [ref for actor in self._actors for ref, _ in actor.inflight]
        if not refs:
            time.sleep(POLL_S)
            return set()
        ready, rest = self._ray.wait(refs, num_returns=1, timeout=POLL_S)
        if ready and rest:
            more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return set(ready)

    def _assign(self, source: Iterator[RenderJob], queue: deque[RenderJob]) -> bool:
        """Top up every active actor to `prefetch` jobs; return True when there is no job left."""
        for actor in self._actors:
            while not actor.retiring and len(actor.jobs()) < self.config.prefetch:
                job = take_job(source, queue)
                if job is None:
                    return True
                if not actor.inflight:
                    actor.last_heard = time.monotonic()
                actor.inflight.append((actor.handle.render.remote(job), job))
        return False

    def _receive(
        self, actor: _Actor, ready: set[Any], queue: deque[RenderJob], failures: FailureLog
    ) -> Iterator[RenderResult]:
        """Take the actor's finished calls, oldest first (a later one never overtakes an earlier)."""
        ray = self._ray
        while actor in self._actors and actor.inflight and actor.inflight[0][0] in ready:
            ref, job = actor.inflight.popleft()
            try:
                answer = ray.get(ref)
            except ray.exceptions.RayError as exc:
                actor.inflight.appendleft((ref, job))  # it was in flight: re-queued with the rest
                verb = "died" if isinstance(exc, ray.exceptions.RayActorError) else "failed"
                self._lost(actor, queue, failures, f"{verb} ({_summary(exc)})")
                return
            actor.last_heard = time.monotonic()
            if job is None:
                self._ready(actor, answer)
                failures.worker_started()
                continue
            kind, payload, rss_mb = answer
            if kind == "invalid":
                raise DescriptionRejected(
                    f"image {job.index}: the renderer rejected its description: {payload}"
                )
            actor.rendered += 1
            yield RenderResult(job, payload, actor.serial, rss_mb, actor.rendered)
            self._maybe_recycle(actor, rss_mb)

    def _ready(self, actor: _Actor, info: dict[str, Any]) -> None:
        if info["version"] != scenesmith.__version__:
            raise RenderFailed(
                f"render actor on {info['host']} runs scenesmith {info['version']}, this process "
                f"{scenesmith.__version__}: install the same version on every Ray node"
            )
        actor.pid, actor.host = info["pid"], info["host"]
        check_device(self.settings.device, info["device"], f"on {info['host']}")
        if info["device"] not in self.devices:  # once per kind of device, not once per actor
            log.info("Cycles renders on %s on %s", describe_device(info["device"]), info["host"])
        self.devices.append(info["device"])

    def _maybe_recycle(self, actor: _Actor, rss_mb: float) -> None:
        reason = recycle_reason(self.config, actor.rendered, rss_mb)
        if actor.retiring or reason is None:
            return
        actor.retiring = True
        self.events.append(f"worker {actor.serial} recycled after {reason}")
        log.info("recycling render actor %d after %s", actor.serial, reason)
        self._start(actor.slot)  # loads Blender while the old one finishes its queue (if there is room)

    def _check_health(self, queue: deque[RenderJob], failures: FailureLog) -> None:
        now = time.monotonic()
        for actor in list(self._actors):
            if actor.retiring and not actor.jobs():
                self._stop(actor)
            elif actor.inflight and now - actor.last_heard > self.config.timeout_s:
                self._lost(actor, queue, failures, f"hung for more than {self.config.timeout_s:g} s")

    def _lost(self, actor: _Actor, queue: deque[RenderJob], failures: FailureLog, why: str) -> None:
        """An actor died, failed or hung: re-queue its images (the one it was rendering counts a failure)."""
        jobs = actor.jobs()
        where = f"pid {actor.pid} on {actor.host}" if actor.pid is not None else "starting"
        message = f"render worker {actor.serial} ({where}) {why}"
        current = jobs[0].index if actor.pid is not None and jobs else None
        failures.worker_lost(message, actor.pid is not None, current, len(jobs))
        queue.extendleft(reversed(jobs))
        self._stop(actor)
        if not any(a.slot == actor.slot and not a.retiring for a in self._actors):
            self._start(actor.slot)
