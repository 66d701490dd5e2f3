"""The pipeline hooks the API server uses: `stop` (clean stop, resumable), `on_sample`, `load`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from scenesmith.annotate.dataset_writer import completed_indices
from scenesmith.pipeline import WRITE_BACKLOG, generate_dataset, render_settings
from scenesmith.procedural.composition import builtin_dir
from scenesmith.procedural.loader import load_scene, load_scene_text
from scenesmith.render.pool import LocalPool, PoolConfig

TINY = ["render.resolution=[32, 32]", "render.samples=1", "render.denoise=false"]


def test_stop_after_the_images_in_flight_then_resume_on_the_same_kept_alive_pool(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    stop = threading.Event()
    finished: list[int] = []
    loads: list[tuple[str, tuple[str, ...]]] = []

    def on_sample(index: int) -> None:
        assert (out / f"meta/{index:06d}.json").is_file()  # called only once the sample is on disk
        finished.append(index)
        stop.set()

    def load(scene: str, overrides):  # noqa: ANN001, ANN202
        loads.append((scene, tuple(overrides)))
        text = (builtin_dir() / "dice_tray.yaml").read_text()
        return load_scene_text(text, list(overrides), tmp_path, "builtin:dice_tray", builtin_dir())

    settings = render_settings(load_scene("dice_tray", TINY))
    with LocalPool(settings, PoolConfig(workers=1)) as pool:
        generate_dataset("ignored", TINY, count=10, out_dir=out, progress=False, workers=pool, stop=stop,
                         on_sample=on_sample, load=load)  # fmt: skip
        stopped = completed_indices(out)
        manifest = json.loads((out / "manifest.json").read_text())
        # After stop, no job is handed out: what finishes is the first image, the ones rendered but
        # not yet written when it was reported (at most WRITE_BACKLOG), and the ones in flight.
        most = 1 + WRITE_BACKLOG + PoolConfig().prefetch
        assert manifest["status"] == "stopped" and 1 <= len(stopped) <= most and set(finished) == stopped
        workers = pool.worker_pids()
        assert workers  # the pool kept its worker: nothing in flight was abandoned

        generate_dataset("ignored", TINY, count=10, out_dir=out, progress=False, workers=pool,
                         on_sample=finished.append, load=load)  # fmt: skip
        assert pool.worker_pids() == workers
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and completed_indices(out) == set(range(10))
    assert sorted(finished) == list(range(10))  # each image reported exactly once over both runs
    assert loads and all(scene == "ignored" for scene, _ in loads)
    # The same rules as the plain loader: the dataset is the one `scenesmith generate` would write.
    assert manifest["identity"]["rules_sha256"] == load_scene("dice_tray", TINY).rules_hash


class PacedPool:
    """A real pool whose results arrive `delay` seconds apart, like renders of known length."""

    def __init__(self, pool: LocalPool, delay: float) -> None:
        self.pool, self.delay, self.events = pool, delay, pool.events

    def run(self, jobs):  # noqa: ANN001, ANN201
        for result in self.pool.run(jobs):
            time.sleep(self.delay)
            yield result


def test_the_recorded_pace_spans_every_image_after_the_first(tmp_path: Path) -> None:
    """last_run dates each image when it was written: 5 images arriving ≥ 1 s apart give a steady
    state of about 1 s per image (dating by collection time gave 3 intervals over 4, 0.75 s).
    The margin allows the first write to be slower than the last one."""
    settings = render_settings(load_scene("dice_tray", TINY))
    delay, count = 1.0, 5
    with LocalPool(settings, PoolConfig(workers=1)) as pool:
        generate_dataset("dice_tray", TINY, count=count, out_dir=tmp_path / "ds", progress=False,
                         workers=PacedPool(pool, delay))  # fmt: skip
    pace = json.loads((tmp_path / "ds" / "manifest.json").read_text())["last_run"]
    assert pace["images"] == count
    assert (pace["seconds"] - pace["first_image_seconds"]) / (count - 1) >= 0.9 * delay


def test_each_image_is_reported_once_written_not_when_the_next_render_arrives(tmp_path: Path) -> None:
    """`on_sample(i)` must not wait for render i + 1 (with slow renders a streaming client was a whole
    render behind): this pool hands over the next result only once the previous one was reported, or
    after 30 s, which fails the test."""
    reported: list[int] = []
    heard = threading.Event()

    class WaitingPool(PacedPool):
        def run(self, jobs):  # noqa: ANN001, ANN201
            for number, result in enumerate(self.pool.run(jobs)):
                if number:
                    assert heard.wait(30), f"image {reported} reported only after the next render"
                    heard.clear()
                yield result

    def on_sample(index: int) -> None:
        reported.append(index)
        heard.set()

    settings = render_settings(load_scene("dice_tray", TINY))
    with LocalPool(settings, PoolConfig(workers=1)) as pool:
        generate_dataset("dice_tray", TINY, count=3, out_dir=tmp_path / "ds", progress=False,
                         workers=WaitingPool(pool, 0.0), on_sample=on_sample)  # fmt: skip
    assert sorted(reported) == [0, 1, 2]
