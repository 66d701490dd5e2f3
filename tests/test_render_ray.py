"""The Ray backend: the same dataset as the local backend, and no image lost when an actor dies.

Real Ray (a local instance started once for the module) and real Blender actors on tiny renders.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs the optional extra: pip install '.[ray]'")

from scenesmith.annotate.dataset_writer import read_instance  # noqa: E402
from scenesmith.errors import UserError  # noqa: E402
from scenesmith.pipeline import generate_dataset, render_settings  # noqa: E402
from scenesmith.procedural.build import build_scene  # noqa: E402
from scenesmith.procedural.loader import load_scene  # noqa: E402
from scenesmith.render.pool import PoolConfig, RenderFailed  # noqa: E402
from scenesmith.render.ray_pool import RayPool, _import_ray, check_reachable  # noqa: E402
from scenesmith.render.scratch import SCRATCH_PREFIX  # noqa: E402
from scenesmith.render.settings import RenderSettings  # noqa: E402
from scenesmith.render.worker import RenderJob  # noqa: E402

TINY = ["render.resolution=[48, 48]", "render.samples=1", "render.denoise=false"]
SEED = 5


@pytest.fixture(scope="module")
def actor_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The actors' temp folder (their TMPDIR), to see what they leave behind."""
    return tmp_path_factory.mktemp("actor_temp")


@pytest.fixture(scope="module", autouse=True)
def ray_instance(actor_temp: Path):
    """One small local Ray for the whole module (the pool uses it instead of starting its own)."""
    env = {"env_vars": {"TMPDIR": str(actor_temp)}}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=env)
    yield
    ray.shutdown()


def _scratch_folders(root: Path) -> list[Path]:
    return list(root.glob(f"{SCRATCH_PREFIX}*"))


def _generate(out: Path, count: int, backend: str) -> Path:
    return generate_dataset(
        "dice_tray", TINY, count=count, seed=SEED, out_dir=out, device="cpu", progress=False, backend=backend
    )


@pytest.fixture(scope="module")
def local_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("local") / "dice", 4, "local")


def test_ray_backend_writes_the_same_dataset_as_the_local_one(
    local_dataset: Path, tmp_path: Path, actor_temp: Path
) -> None:
    out = _generate(tmp_path / "dice", 4, "ray")
    assert _scratch_folders(actor_temp) == []  # the actors stopped idle: Blender's files went with them
    # annotations.json holds no timings: the whole file must match.
    assert json.loads((out / "annotations.json").read_text()) == json.loads(
        (local_dataset / "annotations.json").read_text()
    )
    for index in range(4):
        name = f"images/{index:06d}.png"
        assert np.array_equal(cv2.imread(str(out / name)), cv2.imread(str(local_dataset / name))), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["backend"] == "ray"
    assert manifest["worker_events"] == []


def test_killed_actor_loses_no_image_and_duplicates_none(local_dataset: Path, actor_temp: Path) -> None:
    loaded = load_scene("dice_tray", TINY)
    jobs = [RenderJob(i, build_scene(loaded.rules, SEED, i)) for i in range(6)]
    pool = RayPool(render_settings(loaded, device="cpu"), PoolConfig(workers=2))
    killed: list[int] = []
    passes = {}
    for result in pool.run(jobs):
        assert result.job.index not in passes, "an image was delivered twice"
        passes[result.job.index] = result.passes
        if not killed and pool.worker_pids():
            assert _scratch_folders(actor_temp)  # the live actors' temp folders, where TMPDIR says
            killed.append(pool.worker_pids()[0])
            os.kill(killed[0], signal.SIGKILL)
    assert sorted(passes) == list(range(6))
    assert killed and any(f"pid {killed[0]} " in e for e in pool.events), pool.events
    # Whichever actor (or replacement) rendered them, the images are the local backend's.
    for index in range(4):
        stored = read_instance(local_dataset / f"masks/{index:06d}_instance.png")
        np.testing.assert_array_equal(passes[index].instance, stored)
        rgb = cv2.imread(str(local_dataset / f"images/{index:06d}.png"))[..., ::-1]
        np.testing.assert_array_equal(passes[index].rgb, rgb)
    # The killed actor could not clean up after itself; the next actor to start on the node (its
    # replacement, unless the run ended before that one got going) removes its folder.
    assert len(_scratch_folders(actor_temp)) <= 1
    assert len(list(RayPool(pool.settings, PoolConfig(workers=1)).run(jobs[:1]))) == 1
    assert _scratch_folders(actor_temp) == []


def test_actors_that_cannot_start_stop_the_run_with_the_actors_own_error() -> None:
    loaded = load_scene("dice_tray", TINY)
    settings = RenderSettings(samples=1, view_transform="NoSuchView", device="cpu")
    pool = RayPool(settings, PoolConfig(workers=1, max_attempts=2))
    with pytest.raises(RenderFailed, match="fail to start.*NoSuchView"):
        list(pool.run([RenderJob(0, build_scene(loaded.rules, SEED, 0))]))


def test_missing_ray_is_a_user_error_that_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(UserError, match=r"scenesmith\[ray\]"):
        _import_ray()


def test_an_address_no_ray_head_answers_at_is_refused_before_ray_retries_for_minutes() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        open_address = f"127.0.0.1:{listening.getsockname()[1]}"
        check_reachable(open_address)
        check_reachable(f"ray://{open_address}")
    for closed in (open_address, "no-such-host.invalid:6379"):
        with pytest.raises(UserError, match=f"--address {closed}: cannot reach a Ray head there"):
            check_reachable(closed)

    class NeverInitialised:
        """Ray, as seen by a pool in a process that has not started it; `init` would retry for minutes."""

        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**_: object) -> None:
            raise AssertionError("ray.init was called with an unreachable address")

    pool = RayPool(RenderSettings(samples=1, device="cpu"), address=open_address)
    pool._ray = NeverInitialised()
    with pytest.raises(UserError, match="cannot reach a Ray head"):
        pool._connect()
