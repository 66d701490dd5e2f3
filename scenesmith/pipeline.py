"""The one-way pipeline, end to end: rules → scene description → render → labels → files.

Two front doors share it: `generate_dataset` writes a resumable dataset folder (the CLI), and
`generate` returns arrays in memory (the Python API). A dataset folder is identified by a hash of
everything that determines its pixels and labels except the image count, so rerunning the same
command resumes it, asking for more images extends it, and anything else is refused rather than
mixed in.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import scenesmith
from scenesmith.annotate.atomic import atomic_write_json, remove_stale_temp_files
from scenesmith.annotate.dataset_writer import (
    ANNOTATIONS_FILE,
    SAMPLE_FOLDERS,
    completed_indices,
    load_metas,
    semantic_map,
    write_coco,
    write_sample,
)
from scenesmith.annotate.labels import ImageLabels, label_image
from scenesmith.annotate.writer_lock import clear_run_output, exclusive_writer, holds_files
from scenesmith.background import lower_this_thread_priority, prefetched
from scenesmith.errors import DatasetMismatch, UserError, identity_differences
from scenesmith.procedural.build import BUILD_VERSION, build_scene, plugin_revisions
from scenesmith.procedural.description import SceneDescription
from scenesmith.procedural.loader import LoadedScene, SceneRuleError, load_scene
from scenesmith.render.pool import PoolConfig, RenderPool, check_backend, open_pool
from scenesmith.render.presets import preset_rules
from scenesmith.render.settings import RenderSettings
from scenesmith.render.worker import RenderJob, RenderResult
from scenesmith.time_budget import PROBE_IMAGES, calibrate_samples

MANIFEST = "manifest.json"
# How much the build and write threads defer to the render workers for CPU (see background.py).
# The lowest priority: measured at 256² on 2 CPU cores, nice 10 still stretched Cycles' renders by
# about 14%; nice 19 leaves them at their bare speed (bench render overhead ratio 1.14 → 0.95).
# Not SCHED_IDLE (as fast here): that starves the threads outright on a machine busy with other work.
HELPER_NICENESS = 19
# Rendered samples waiting for the writer thread; bounds memory if the disk is slower than the renderer.
WRITE_BACKLOG = 4


def render_settings(loaded: LoadedScene, device: str = "auto") -> RenderSettings:
    rule = loaded.rules.render
    return RenderSettings(
        samples=rule.samples,
        adaptive_threshold=rule.adaptive_threshold,
        denoise=rule.denoise,
        view_transform=rule.view_transform,
        exposure=rule.exposure,
        device=device,
    )


def render_overrides(
    resolution: tuple[int, int] | None,
    samples: int | None,
    preset: str | None = None,
    user: Sequence[str] = (),
) -> list[str]:
    """`--preset`, the user's `--set` overrides (`user`), `--resolution` and `--samples` as rule
    overrides, in the order that decides which wins (the last): they enter the dataset's identity like
    any rule. A preset is a starting point, so a `--set render.*` beats it; an explicit `--samples`
    beats both."""
    extra = [f"render.{key}={json.dumps(value)}" for key, value in preset_rules(preset).items()]
    extra += user
    if resolution is not None:
        extra.append(f"render.resolution=[{int(resolution[0])}, {int(resolution[1])}]")
    if samples is not None:
        extra.append(f"render.samples={int(samples)}")
    return extra


def dataset_identity(loaded: LoadedScene, seed: int, image_format: str) -> dict[str, Any]:
    """What defines a dataset's content (not its size): scene rules after overrides, seed, format."""
    identity = {
        "scenesmith_version": scenesmith.__version__,
        "build_version": BUILD_VERSION,
        "rules_sha256": loaded.rules_hash,
        "seed": seed,
        "image_format": image_format,
        "resolution": list(loaded.rules.render.resolution),
        "samples": loaded.rules.render.samples,
    }
    # Only when some plug-in moved, so that the identities of every other dataset stay as they were.
    if revisions := plugin_revisions(loaded.rules):
        identity["plugin_revisions"] = revisions
    identity["dataset_key"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return identity


def _existing_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of the dataset `out_dir` holds (None for an empty or absent folder); refuses a folder
    that holds something else.

    A run killed while writing its first manifest leaves only a temp file: that folder is still empty.
    """
    if not holds_files(out_dir):
        return None
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        raise UserError(
            f"{out_dir}: folder is not empty and holds no scenesmith dataset; choose another --out"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        manifest["identity"]["dataset_key"]  # noqa: B018 - present, or the manifest is not ours
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{manifest_path}: unreadable manifest; choose another --out") from None
    if "adapter" in manifest:  # `adapt apply` keeps the source's identity beside its own record
        raise UserError(
            f"{out_dir}: holds an adapted dataset (made by `scenesmith adapt apply`); rendering into it "
            "would mix raw renders with adapted images — choose another --out"
        )
    return manifest


def _renderer_record(previous: dict[str, Any], out_dir: Path) -> dict[str, Any] | None:
    """The render settings the folder's finished images were made with: the manifest's record, else a
    finished image's own. Why both: each image's meta is written before the manifest that records it,
    so a run killed in between (SIGKILL) leaves an image the manifest does not yet speak for, and a
    resume on another device would have taken its own first image as the reference."""
    if "render_settings_used" in previous:
        return previous["render_settings_used"]
    for meta in load_metas(out_dir, keys=["render"], limit=1):
        return meta.get("render", {}).get("settings")
    return None


def _check_output_folder(out_dir: Path, identity: dict[str, Any], count: int) -> dict[str, Any] | None:
    """Refuse to mix datasets; return the existing manifest when resuming."""
    manifest = _existing_manifest(out_dir)
    if manifest is None:
        return None
    existing_key = manifest["identity"]["dataset_key"]
    if existing_key != identity["dataset_key"]:
        if not completed_indices(out_dir):
            # A run killed outright (SIGKILL) before its first image left only its manifest: no dataset
            # is there to keep, and refusing every other seed or setting from then on protects nothing.
            return None
        differing = identity_differences(manifest["identity"], identity)
        raise DatasetMismatch(
            f"{out_dir}: holds a different dataset (differs in: {', '.join(differing) or 'dataset key'}); "
            "it is never overwritten — choose another --out",
            differing,
        )
    done = len(completed_indices(out_dir))
    if count < manifest.get("count", 0) and done > count:
        raise UserError(f"{out_dir}: already holds {done} images; the count of a dataset can only grow")
    return manifest


@dataclass
class StageClock:
    """Accumulates seconds per pipeline stage (for the manifest and the benchmark)."""

    totals: dict[str, float]

    def add(self, stage: str, seconds: float) -> None:
        self.totals[stage] = self.totals.get(stage, 0.0) + seconds


def generate_dataset(
    scene: str,
    overrides: Sequence[str] = (),
    count: int = 10,
    seed: int = 0,
    out_dir: Path = Path("out"),
    image_format: str = "png",
    device: str = "auto",
    progress: bool = True,
    pool: PoolConfig | None = None,
    backend: str = "local",
    address: str | None = None,
    time_budget: float | None = None,
    workers: RenderPool | None = None,
    stop: threading.Event | None = None,
    on_sample: Callable[[int], None] | None = None,
    load: Callable[[str, Sequence[str]], LoadedScene] | None = None,
) -> Path:
    """Render `count` labelled images into `out_dir` (resuming whatever is already complete there).

    Rendering runs on persistent workers (`backend` "local": processes here; "ray": Ray actors);
    this process builds scene descriptions ahead of them and writes finished samples behind them.
    `time_budget` (seconds per image) fixes the sample count by a calibration, recorded and reused.
    `workers`: an already running pool to render on (a server's), instead of one for this call.
    `stop` (set from another thread): no new images are started; the ones already handed to workers
    are finished and written, the manifest says "stopped", and the folder resumes like any other.
    `on_sample(index)`: called once an image is completely on disk (its meta written).
    `load(scene, overrides)`: how the scene is loaded (default `load_scene`; the API server loads
    request text confined to its data root).
    """
    load = load or load_scene
    if time_budget is not None and backend != "local":
        raise UserError(
            f"--time-budget calibrates the sample count by rendering on this machine, which says nothing of "
            f"the {backend} backend's workers (GPUs there, none here): give the count with --samples instead"
        )
    if workers is None:
        check_backend(backend, address)
    budget = None
    if time_budget is not None:
        budget = _recorded_budget(Path(out_dir), time_budget)
        if budget is None:
            unbudgeted = load(scene, overrides)
            # A folder that will be refused is refused before calibrating (two Blender starts, six renders).
            if _existing_manifest(Path(out_dir)) is not None and completed_indices(out_dir):
                raise DatasetMismatch(
                    f"{out_dir}: holds a dataset not calibrated to --time-budget {time_budget:g} (another "
                    "budget, a fixed sample count, or other rules); it is never overwritten — choose another "
                    "--out",
                    ["time_budget"],
                )
            probes = [build_image(unbudgeted, seed, index) for index in range(PROBE_IMAGES)]
            budget = calibrate_samples(probes, render_settings(unbudgeted, device), time_budget, progress)
        overrides = [*overrides, f"render.samples={budget['samples']}"]
    loaded = load(scene, overrides)
    identity = dataset_identity(loaded, seed, image_format)
    out_dir = Path(out_dir)
    if _already_complete(_check_output_folder(out_dir, identity, count), out_dir, count):
        # Nothing to render, so nothing to lock (a finished set may lie in a read-only cache). Rewriting
        # the labels and manifest would only add this check to the set's recorded render time (a
        # benchmark asks its cached sets for themselves on every call).
        return out_dir
    with exclusive_writer(out_dir):
        previous = _check_output_folder(out_dir, identity, count)  # again: as the lock found it
        if _already_complete(previous, out_dir, count):  # finished by a run that just let go
            return out_dir
        remove_stale_temp_files(out_dir, SAMPLE_FOLDERS)  # half-written files of a run that was killed
        settings = render_settings(loaded, device)
        clock = StageClock(dict(previous.get("timings_s", {})) if previous else {})
        manifest: dict[str, Any] = {
            "scenesmith_version": scenesmith.__version__,
            "identity": identity,
            "count": max(count, previous.get("count", 0) if previous else 0),
            "status": "in_progress",
            "scene": {
                "source": loaded.source,
                "file_sha256": loaded.file_hash,
                "rules": loaded.rules.model_dump(mode="json"),
            },
            "overrides": list(overrides),
            "seed": seed,
            "render_settings": settings.as_dict(),
            "timings_s": clock.totals,
            "backend": backend,
            # A resume with --samples N (the recorded N) keeps the calibration that chose N.
            "time_budget": budget if budget is not None else (previous or {}).get("time_budget"),
        }
        if previous and (used := _renderer_record(previous, out_dir)):  # what the finished images used
            manifest["render_settings_used"] = used
        if previous is None:
            if holds_files(out_dir):  # what a start killed before its first image left (see above)
                clear_run_output(out_dir, last=MANIFEST)
            atomic_write_json(out_dir / MANIFEST, manifest)
        else:
            # The record of earlier runs is kept, and until this run writes an image the folder still
            # holds the dataset it held: a run killed outright (SIGKILL, out of memory) while its
            # workers start leaves the count, status and times as they were, not a grown count that
            # is "stopped" from then on, with the render time of the finished images gone.
            manifest |= {
                key: previous[key] for key in ("wall_runs", "wall_s", "worker_events") if key in previous
            }
            unchanged = {key: previous[key] for key in ("count", "status") if key in previous}
            atomic_write_json(out_dir / MANIFEST, manifest | unchanged)
        run_started, done_before = time.perf_counter(), completed_indices(out_dir)
        todo = sorted(set(range(count)) - done_before)
        if todo:
            written: set[int] = set()

            def record_written(index: int) -> None:
                """Kept with each image, so a run killed outright (SIGKILL) still accounts for its time."""
                written.add(index)
                _record_wall_time(manifest, previous, done_before, done_before | written, run_started)

            try:
                workers = workers or open_pool(backend, settings, pool, address)
                try:
                    _render_into(
                        out_dir, loaded, seed, todo, workers, settings, manifest, clock, image_format,
                        progress, stop, on_sample, record_written,
                    )  # fmt: skip
                finally:
                    manifest["worker_events"] = [*(previous or {}).get("worker_events", []), *workers.events]
                    done_now = completed_indices(out_dir)
                    _record_wall_time(manifest, previous, done_before, done_now, run_started)
                    atomic_write_json(out_dir / MANIFEST, manifest)
            except BaseException:
                if not completed_indices(out_dir) - done_before:
                    # Nothing was made (no GPU, no Ray cluster, Ctrl-C at once, a full disk in image 0, a
                    # first image from another renderer): the folder is left as it was found, so a retry
                    # (with another seed too) is not refused, and a resumed set keeps its count, status
                    # and recorded times.
                    if previous is None:
                        clear_run_output(out_dir, last=MANIFEST)
                    else:
                        atomic_write_json(out_dir / MANIFEST, previous)
                raise

        started = time.perf_counter()
        write_coco(
            out_dir, categories=[c.model_dump() for c in loaded.rules.categories], info=_coco_info(manifest)
        )
        clock.add("write_coco", time.perf_counter() - started)
        done_now = completed_indices(out_dir)
        _record_wall_time(manifest, previous, done_before, done_now, run_started)
        # Against the dataset's count, which can exceed this call's (a smaller count asked of a bigger set).
        manifest["status"] = "complete" if set(range(manifest["count"])) <= done_now else "stopped"
        atomic_write_json(out_dir / MANIFEST, manifest)
    return out_dir


def _record_wall_time(
    manifest: dict[str, Any],
    previous: dict[str, Any] | None,
    done_before: set[int],
    done_now: set[int],
    run_started: float,
) -> None:
    """Record the wall time of every run that built the dataset, and which images each run rendered.

    Why wall time and not the stage timings: stages overlap across the generator's processes, so their
    sum overstates how long the dataset took. Why per run: a set that was extended (120 → 240 images)
    is still asked what its first 120 cost, by a benchmark that trains on those (`wall_seconds`).
    """
    previous = previous or {}
    earlier = list(previous.get("wall_runs", []))
    if not earlier and "wall_s" in previous:
        # Written before runs were recorded apart: its total covers exactly the images already there.
        earlier = [{"images": index_ranges(sorted(done_before)), "wall_s": float(previous["wall_s"])}]
    this_run = {
        "images": index_ranges(sorted(done_now - done_before)),
        "wall_s": time.perf_counter() - run_started,
    }
    manifest["wall_runs"] = [*earlier, this_run]
    manifest["wall_s"] = sum(run["wall_s"] for run in manifest["wall_runs"])


def wall_seconds(manifest: dict[str, Any], count: int | None = None) -> float:
    """Wall time the generator spent on a dataset's first `count` images (on all of them when None).

    A run's time is shared evenly among the images it rendered, so a run that made images on both
    sides of `count` counts in part; a run that rendered none (it only rewrote the labels) counts whole.
    Manifests older than `wall_runs` only hold a total, which is shared among their images the same way.
    Sets older still fall back to the sum of stage timings, which overstates the time (stages overlap
    across processes, and nested stages count twice).
    """
    runs = manifest.get("wall_runs")
    if runs is None and "wall_s" in manifest:
        runs = [{"images": [[0, int(manifest["count"])]], "wall_s": float(manifest["wall_s"])}]
    if runs is None:
        return float(sum(manifest.get("timings_s", {}).values()))
    total = 0.0
    for run in runs:
        rendered = sum(stop - start for start, stop in run["images"])
        below = (
            sum(max(0, min(stop, count) - start) for start, stop in run["images"])
            if count is not None
            else rendered
        )
        total += run["wall_s"] * (below / rendered if rendered else 1.0)
    return total


def index_ranges(indices: Sequence[int]) -> list[list[int]]:
    """Sorted indices as half-open [start, stop) ranges: a run's images stay short in the manifest."""
    ranges: list[list[int]] = []
    for index in indices:
        if ranges and ranges[-1][1] == index:
            ranges[-1][1] = index + 1
        else:
            ranges.append([index, index + 1])
    return ranges


def _already_complete(previous: dict[str, Any] | None, out_dir: Path, count: int) -> bool:
    """Whether a finished earlier run already holds the first `count` images, labels written.

    A deleted `annotations.json` is derived data: it makes the run go on, which writes it again.
    """
    return (
        previous is not None
        and previous.get("status") == "complete"
        and (out_dir / ANNOTATIONS_FILE).is_file()
        and set(range(count)) <= completed_indices(out_dir)
    )


def _recorded_budget(out_dir: Path, seconds: float) -> dict[str, Any] | None:
    """The calibration an earlier run of this dataset made for the same budget (so a resume matches)."""
    try:
        recorded = json.loads((out_dir / MANIFEST).read_text()).get("time_budget")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(recorded, dict) and recorded.get("budget_seconds") == seconds:
        return recorded
    return None


def build_image(loaded: LoadedScene, seed: int, index: int) -> SceneDescription:
    """Image `index`'s scene. Rules are sampled per image, so valid rules can still draw values that
    cannot be built (a drawn part whose boolean leaves no closed solid): that is the rules' error, named
    with the image and seed that drew it, not a traceback."""
    try:
        return build_scene(loaded.rules, seed, index)
    except ValueError as exc:
        raise SceneRuleError(f"{loaded.source}: image {index} (seed {seed}) cannot be built: {exc}") from None


def _build_job(loaded: LoadedScene, seed: int, index: int, settings: RenderSettings) -> RenderJob:
    started = time.perf_counter()
    description = build_image(loaded, seed, index)
    return RenderJob(index, description, time.perf_counter() - started, settings)


def _render_into(
    out_dir: Path,
    loaded: LoadedScene,
    seed: int,
    todo: list[int],
    workers: RenderPool,
    settings: RenderSettings,
    manifest: dict[str, Any],
    clock: StageClock,
    image_format: str,
    progress: bool,
    stop: threading.Event | None = None,
    on_sample: Callable[[int], None] | None = None,
    on_written: Callable[[int], None] | None = None,
) -> None:
    """Three stages at once: descriptions built ahead (thread), rendered (workers), written behind (thread).

    `on_written(index)`: called once the image is on disk, before the manifest is rewritten.

    While images are written, the manifest is only touched by the one writer thread, after each sample
    is safely on disk, so a killed run keeps its timings and never records an image it did not finish.
    """
    jobs = _until(
        stop,
        prefetched((_build_job(loaded, seed, index, settings) for index in todo), niceness=HELPER_NICENESS),
    )
    writing: deque[Future] = deque()
    run_started = time.perf_counter()
    # This run's pace: the first image includes starting the workers; the rest is the steady state.
    pace = manifest["last_run"] = {"images": 0, "seconds": 0.0, "first_image_seconds": None}

    def write(result: RenderResult) -> None:
        """Write one sample, then account for it, both in the writer thread: an image is recorded (and
        `on_sample` hears of it) as soon as it is on disk, not when the next render arrives, which with
        slow renders kept a streaming client one image behind."""
        started = time.perf_counter()
        job = result.job
        meta = write_sample(out_dir, job.index, job.description, result.passes, image_format=image_format)
        written_at = time.perf_counter()
        clock.add("build_scene", job.build_seconds)
        for stage, stage_seconds in result.passes.timings.items():
            clock.add(f"render_{stage}", stage_seconds)
        clock.add("annotate_and_write", written_at - started)
        manifest["render_settings_used"] = meta["render"]["settings"]
        pace["images"] += 1
        pace["seconds"] = written_at - run_started
        if pace["first_image_seconds"] is None:
            pace["first_image_seconds"] = pace["seconds"]
        if on_written is not None:
            on_written(job.index)
        atomic_write_json(out_dir / MANIFEST, manifest)
        if on_sample is not None:
            on_sample(job.index)

    def settle(block: bool) -> None:
        """Collect finished writes (a failed one raises here) and keep at most WRITE_BACKLOG waiting."""
        while writing and (block or writing[0].done() or len(writing) > WRITE_BACKLOG):
            writing.popleft().result()

    with ThreadPoolExecutor(
        max_workers=1,
        thread_name_prefix="scenesmith-write",
        initializer=lower_this_thread_priority,
        initargs=(HELPER_NICENESS,),
    ) as writer:
        earlier = manifest.get("render_settings_used")
        try:
            for result in tqdm(
                workers.run(jobs), total=len(todo), desc=loaded.rules.name, unit="img", disable=not progress
            ):
                _check_same_renderer(out_dir, earlier, result.passes.settings)
                earlier = earlier or result.passes.settings  # a first run's images agree with its first
                writing.append(writer.submit(write, result))
                settle(block=False)
        finally:
            settle(block=True)


def renderer_of(settings: dict[str, Any]) -> dict[str, Any]:
    """What decides an image's noise and denoising beyond the rules: CPU or GPU, backend, denoiser."""
    device = settings.get("device") or {}
    return {
        "device": device.get("device"),
        "backend": device.get("backend"),
        "denoise": settings.get("denoise"),
        "denoiser": settings.get("denoiser"),
    }


def _check_same_renderer(out_dir: Path, earlier: dict[str, Any] | None, now: dict[str, Any]) -> None:
    """A dataset keeps the renderer its first image was made with: a run stopped on the CPU and
    resumed on a GPU, or a pool whose replacement worker or Ray node renders otherwise, would mix
    OpenImageDenoise and OptiX images under one seed (checked before the image is written)."""
    if earlier is None or renderer_of(earlier) == renderer_of(now):
        return
    raise DatasetMismatch(
        f"{out_dir}: its images were rendered with {renderer_of(earlier)}, this run's workers render "
        f"with {renderer_of(now)}; one "
        "dataset comes from one renderer: resume with a --device that matches, or choose another --out",
        ["renderer"],
    )


def _until(stop: threading.Event | None, jobs: Iterator[RenderJob]) -> Iterator[RenderJob]:
    """`jobs` until `stop` is set: the pool then finishes what it holds and returns normally."""
    try:
        for job in jobs:
            if stop is not None and stop.is_set():
                return
            yield job
    finally:
        close = getattr(jobs, "close", None)
        if close is not None:
            close()  # stops the prefetch thread


def _coco_info(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": f"scenesmith synthetic dataset of scene {manifest['scene']['rules']['name']}",
        "version": manifest["scenesmith_version"],
        "dataset_key": manifest["identity"]["dataset_key"],
        "seed": manifest["seed"],
    }


@dataclass
class Sample:
    """One rendered image with its labels, in memory (the array API)."""

    index: int
    rgb: np.ndarray
    instance: np.ndarray
    semantic: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    labels: ImageLabels
    description: SceneDescription


def iter_samples(
    scene: str,
    count: int,
    seed: int = 0,
    overrides: Sequence[str] = (),
    start: int = 0,
    device: str = "auto",
    long_side: int | None = None,
) -> Iterator[Sample]:
    """Yield samples start … start+count−1; sample k equals image k of a dataset with the same seed.

    `long_side`: render each scene, built as the dataset builds it, at this many pixels on its long
    side (a preview); labels follow the smaller camera."""
    from scenesmith.render.blender import BlenderRenderer
    from scenesmith.render.devices import check_device

    if count < 0 or start < 0:
        raise UserError(f"count and start must be >= 0, got {count}, {start}")
    loaded = load_scene(scene, overrides)
    with BlenderRenderer(render_settings(loaded, device)) as renderer:
        check_device(device, renderer.device.as_dict(), "in this process")  # `gpu` never falls back
        for index in range(start, start + count):
            desc = build_image(loaded, seed, index)
            if long_side is not None:
                desc = replace(desc, camera=desc.camera.resized(long_side))
            passes = renderer.render(desc)
            yield Sample(
                index=index,
                rgb=passes.rgb,
                instance=passes.instance,
                semantic=semantic_map(passes.instance, desc),
                depth=passes.depth,
                normal=passes.normal,
                labels=label_image(desc, passes, image_id=index + 1),
                description=desc,
            )


def generate(
    scene: str,
    count: int,
    seed: int = 0,
    overrides: Sequence[str] = (),
    resolution: tuple[int, int] | None = None,
    samples: int | None = None,
    device: str = "auto",
) -> list[Sample]:
    """Images and labels as arrays, for users who don't want files."""
    extra = [*overrides, *render_overrides(resolution, samples)]
    return list(iter_samples(scene, count, seed, extra, device=device))
