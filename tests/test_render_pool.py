"""The persistent worker pool: every image exactly once, whatever happens to the workers.

Real Blender workers on tiny renders; faults are real too (SIGKILL, SIGSTOP on a worker process).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest

from scenesmith.pipeline import render_settings
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.loader import load_scene
from scenesmith.render.pool import DescriptionRejected, FailureLog, LocalPool, PoolConfig, RenderFailed
from scenesmith.render.scratch import SCRATCH_PREFIX
from scenesmith.render.settings import RenderSettings
from scenesmith.render.worker import RenderJob

TINY = ["render.resolution=[48, 48]", "render.samples=1", "render.denoise=false"]


def _jobs(count: int, seed: int = 3) -> list[RenderJob]:
    loaded = load_scene("dice_tray", TINY)
    return [RenderJob(i, build_scene(loaded.rules, seed, i)) for i in range(count)]


def _settings() -> RenderSettings:
    return render_settings(load_scene("dice_tray", TINY), device="cpu")


def _render_all(pool: LocalPool, jobs: list[RenderJob], on_result=None) -> dict[int, object]:
    passes = {}
    for result in pool.run(jobs):
        assert result.job.index not in passes, "an image was delivered twice"
        passes[result.job.index] = result.passes
        if on_result is not None:
            on_result(pool, result)
    return passes


def _assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for index in a:
        np.testing.assert_array_equal(a[index].instance, b[index].instance)
        np.testing.assert_array_equal(a[index].depth, b[index].depth)
        np.testing.assert_array_equal(a[index].rgb, b[index].rgb)


@pytest.fixture(scope="module")
def reference() -> dict:
    """Six images from one worker that is never disturbed."""
    return _render_all(LocalPool(_settings(), PoolConfig(workers=1)), _jobs(6))


def test_recycled_workers_render_the_same_images_as_one_fresh_worker(reference):
    pool = LocalPool(_settings(), PoolConfig(workers=1, recycle_after=2))
    recycled = _render_all(pool, _jobs(6))
    _assert_same(recycled, reference)
    assert sum("recycled" in e for e in pool.events) >= 2


def test_killed_worker_loses_no_image_and_duplicates_none(reference, tmp_path: Path, monkeypatch) -> None:
    """...and leaves no temp files: a worker killed mid-render cannot remove its own (Blender's session
    folder, the render's EXR), so the pool removes its workers' temp folder when they are done."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    killed = []

    def kill_once(pool: LocalPool, result) -> None:
        if not killed and pool.worker_pids():
            killed.append(pool.worker_pids()[0])
            os.kill(killed[0], signal.SIGKILL)

    pool = LocalPool(_settings(), PoolConfig(workers=2))
    _assert_same(_render_all(pool, _jobs(6), kill_once), reference)
    assert killed and any(f"pid {killed[0]}" in e for e in pool.events)
    assert list(temp.iterdir()) == []


def test_hung_worker_is_killed_and_its_images_requeued(reference):
    stopped = []

    def hang_once(pool: LocalPool, result) -> None:
        if not stopped:
            stopped.append(pool.worker_pids()[0])
            os.kill(stopped[0], signal.SIGSTOP)  # alive, silent: a hang

    pool = LocalPool(_settings(), PoolConfig(workers=1, timeout_s=15))
    _assert_same(_render_all(pool, _jobs(6), hang_once), reference)
    assert any("hung" in e for e in pool.events)


def test_workers_that_cannot_start_stop_the_run_with_a_clear_error():
    settings = RenderSettings(samples=1, view_transform="NoSuchView", device="cpu")
    with pytest.raises(
        RenderFailed, match="fail to start.*after ValueError: unknown view_transform 'NoSuchView'"
    ):
        list(LocalPool(settings, PoolConfig(workers=1, max_attempts=2)).run(_jobs(1)))


def test_a_failure_inside_a_render_names_its_cause_and_is_not_blamed_on_the_rules():
    """A job whose settings Blender refuses fails inside the render, after its description passed: it
    ends the worker like a crash (retried), and the run's error says what it was, not that the rules
    must change."""
    job = RenderJob(0, _jobs(1)[0].description, settings=replace(_settings(), view_transform="NoSuchView"))
    pool = LocalPool(_settings(), PoolConfig(workers=1, max_attempts=2))
    with pytest.raises(RenderFailed, match=r"image 0 took down 2 render workers") as failure:
        list(pool.run([job]))
    assert not isinstance(failure.value, DescriptionRejected)
    assert "after ValueError: unknown view_transform 'NoSuchView'" in str(failure.value)
    assert all("unknown view_transform" in event for event in pool.events)


def test_a_description_the_renderer_refuses_stops_the_run_at_once():
    job = _jobs(1)[0]
    refused = replace(job, description=replace(job.description, seed="seven"))
    pool = LocalPool(_settings(), PoolConfig(workers=1, max_attempts=2))
    with pytest.raises(DescriptionRejected, match="image 0: the renderer rejected its description: seed"):
        list(pool.run([refused]))
    assert pool.events == []  # no worker was lost over it


def test_a_kept_alive_pool_renders_datasets_with_different_settings_like_fresh_pools(reference):
    sharper = RenderSettings(samples=2, denoise=False, device="cpu")
    jobs = _jobs(2)
    with LocalPool(_settings(), PoolConfig(workers=1)) as pool:
        first = _render_all(pool, [RenderJob(j.index, j.description, settings=sharper) for j in jobs])
        pids = pool.worker_pids()
        second = _render_all(pool, jobs)
        assert pool.worker_pids() == pids, "the worker should have stayed loaded between runs"
    assert pool.worker_pids() == []
    fresh = _render_all(LocalPool(sharper, PoolConfig(workers=1)), jobs)
    _assert_same(first, fresh)
    _assert_same(second, {i: reference[i] for i in second})


ORPHAN_SCRIPT = """
import sys, time
sys.path[:0] = {path!r}
from tests.test_render_pool import _jobs, _settings
from scenesmith.render.pool import LocalPool, PoolConfig
with LocalPool(_settings(), PoolConfig(workers=1)) as pool:
    results = pool.run(_jobs({jobs}))
    next(results)
    print(pool.worker_pids()[0], flush=True)
    for _ in results:
        pass
    time.sleep(300)
"""


@pytest.mark.parametrize("jobs", [1, 40], ids=["idle", "busy"])
def test_a_worker_exits_quietly_when_its_coordinator_is_killed(jobs: int) -> None:
    """Killed with -9 (no chance to tell the worker), the coordinator must leave no worker behind,
    whether the worker waits for work (1 job, done) or is rendering or being fed (40 jobs), and no
    traceback in the log they share."""
    root = str(Path(__file__).resolve().parents[1])
    coordinator = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT.format(path=[root], jobs=jobs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = psutil.Process(int(coordinator.stdout.readline()))
    coordinator.kill()
    coordinator.wait()
    worker.wait(timeout=30)  # psutil.TimeoutExpired if the worker were left behind
    assert not worker.is_running()
    log = coordinator.stderr.read()  # EOF once the worker, which shares it, has gone too
    assert "Traceback" not in log, log


def test_a_job_keeps_the_workers_thread_count() -> None:
    """A Ray actor caps Cycles at its share of the node's cores; a job's settings (which carry the
    run's 0 = every core) must not lift that cap, or several actors oversubscribe one node."""
    from scenesmith.render.worker import render_job

    class _Renderer:
        settings = RenderSettings(device="cpu", threads=4)

        def render(self, description: object) -> RenderSettings:
            return self.settings

    job = _jobs(1)[0]
    renderer = _Renderer()
    used = render_job(
        renderer, RenderJob(0, job.description, settings=RenderSettings(samples=2)), renderer.settings
    )
    assert used.samples == 2 and used.threads == 4


def test_only_start_failures_in_a_row_stop_the_run() -> None:
    """Three start-up losses hours apart, with workers starting fine in between (an OOM kill of a
    replacement while its predecessor still ran), are not 'workers fail to start'."""
    failures = FailureLog(max_attempts=3, events=[])
    for _ in range(5):
        failures.worker_lost("worker exited with code -9", was_ready=False, current=None, requeued=0)
        failures.worker_started()
    failures.worker_lost("worker exited with code -9", was_ready=False, current=None, requeued=0)
    failures.worker_lost("worker exited with code -9", was_ready=False, current=None, requeued=0)
    with pytest.raises(RenderFailed, match="fail to start"):
        failures.worker_lost("worker exited with code -9", was_ready=False, current=None, requeued=0)


def test_a_pool_renders_on_after_its_temp_folder_was_removed(
    tmp_path: Path, monkeypatch, abandoned_scratch
) -> None:
    """A temp cleaner (or a user) removing a kept-alive pool's folder must not stop every later render;
    the folder of a pool whose process was killed outright goes when the next pool starts."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = abandoned_scratch(tmp_path)
    with LocalPool(_settings(), PoolConfig(workers=1)) as pool:
        assert len(list(pool.run(_jobs(1)))) == 1
        assert not killed.exists()
        (scratch,) = tmp_path.glob(f"{SCRATCH_PREFIX}*")
        shutil.rmtree(scratch)
        assert sorted(r.job.index for r in pool.run(_jobs(2))) == [0, 1]
    assert not scratch.exists()


def test_a_kept_alive_pool_renders_on_every_gpu_again_after_a_failed_run(monkeypatch) -> None:
    """A failed run kills the workers holding its jobs; the API server's pool then rendered every later
    dataset on GPU 0 alone (bpy-free workers that report two GPUs)."""
    from scenesmith.render import pool as pool_module
    from scenesmith.render.pool import DescriptionRejected
    from tests.fake_render_worker import GPUS, two_gpu_worker

    monkeypatch.setattr(pool_module, "worker_main", two_gpu_worker)

    def gpus_used(pool: LocalPool, descriptions: list[str]) -> set[int]:
        jobs = [RenderJob(i, d) for i, d in enumerate(descriptions)]
        return {result.passes.settings["gpu_index"] for result in pool.run(jobs)}

    with LocalPool(RenderSettings(device="auto"), PoolConfig(workers=None, prefetch=1)) as pool:
        assert gpus_used(pool, ["ok"] * 8) == set(range(GPUS))
        with pytest.raises(DescriptionRejected, match="rejected on purpose"):
            gpus_used(pool, ["ok"] * 3 + ["reject"] + ["ok"] * 8)
        assert gpus_used(pool, ["ok"] * 8) == set(range(GPUS))
        assert len(pool.worker_pids()) == GPUS


@pytest.mark.parametrize("from_main_thread", [True, False])
def test_workers_start_with_ctrl_c_held_from_them_and_the_parent_keeps_it(
    monkeypatch: pytest.MonkeyPatch, from_main_thread: bool
) -> None:
    """A Ctrl-C while spawned workers imported printed their tracebacks under the parent's message.
    The API server starts its pool from a runner thread."""
    import signal
    import threading

    from scenesmith.render import pool as pool_module
    from tests.fake_render_worker import interrupt_reporting_worker

    monkeypatch.setattr(pool_module, "worker_main", interrupt_reporting_worker)
    seen: list[list[str]] = []

    def run() -> None:
        with LocalPool(RenderSettings(device="cpu"), PoolConfig(workers=1)) as pool:
            assert len(list(pool.run([RenderJob(0, "ok")]))) == 1
            seen.extend(device["names"] for device in pool.devices)

    if from_main_thread:
        run()
    else:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    assert seen == [["sigint blocked: True"]]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the parent still hears it
