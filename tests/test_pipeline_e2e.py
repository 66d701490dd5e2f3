"""The whole pipeline on the built-in dice_tray scene: CLI → rendered dataset → COCO, resumable."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from scenesmith.annotate.dataset_writer import read_depth, read_instance
from scenesmith.cli import main
from scenesmith.errors import UserError
from scenesmith.pipeline import generate_dataset, iter_samples, render_overrides, wall_seconds
from scenesmith.render.passes import RenderPasses
from scenesmith.render.worker import RenderResult

TINY = ["--resolution", "64x64", "--samples", "2", "--set", "render.denoise=false", "--quiet"]


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code)


def generate(out: Path, count: int, seed: int = 0, extra: list[str] | None = None) -> int:
    return run_cli(
        ["generate", "dice_tray", "--count", str(count), "--seed", str(seed), "--out", str(out), *TINY]
        + (extra or [])
    )


def annotations_without_timing(path: Path) -> list[dict]:
    return json.loads((path / "annotations.json").read_text())["annotations"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "dice"
    assert generate(out, 3, seed=5) == 0
    return out


def test_dataset_layout_and_coco_loads(dataset: Path) -> None:
    coco = COCO(str(dataset / "annotations.json"))
    assert sorted(coco.getImgIds()) == [1, 2, 3]
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
    ]
    for image in coco.loadImgs(coco.getImgIds()):
        stem = Path(image["file_name"]).stem
        assert (dataset / image["file_name"]).is_file()
        for part in (
            f"masks/{stem}_instance.png",
            f"masks/{stem}_semantic.png",
            f"depth/{stem}.exr",
            f"meta/{stem}.json",
        ):
            assert (dataset / part).is_file(), part
        instance = cv2.imread(str(dataset / f"masks/{stem}_instance.png"), cv2.IMREAD_UNCHANGED)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=image["id"])):
            mask = mask_utils.decode(ann["segmentation"]).astype(bool)
            assert np.array_equal(mask, instance == ann["instance_id"])
            assert ann["id"] == image["id"] * 1000 + ann["instance_id"]
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == 5
    assert manifest["render_settings"]["view_transform"] == "Standard"
    assert manifest["render_settings"]["samples"] == 2
    assert manifest["scene"]["file_sha256"] and manifest["timings_s"]["build_scene"] > 0


def test_same_seed_same_annotations_and_image_k_alone_equals_batch(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert generate(again, 3, seed=5) == 0
    assert annotations_without_timing(again) == annotations_without_timing(dataset)
    # Image 2 rendered alone, through the array API.
    (sample,) = iter_samples(
        "dice_tray",
        1,
        seed=5,
        start=2,
        overrides=["render.resolution=[64, 64]", "render.samples=2", "render.denoise=false"],
    )
    batch = [a for a in annotations_without_timing(dataset) if a["image_id"] == 3]
    assert json.loads(json.dumps(sample.labels.annotations)) == batch
    stored = cv2.imread(str(dataset / "images/000002.png"))[..., ::-1]
    assert np.array_equal(stored, sample.rgb)


def test_different_dataset_in_same_folder_is_refused(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (dataset / "annotations.json").read_bytes()
    assert generate(dataset, 3, seed=6) == 2
    assert "different dataset" in capsys.readouterr().err
    assert (dataset / "annotations.json").read_bytes() == before


def test_count_can_grow_and_finished_images_are_not_rerendered(dataset: Path, tmp_path: Path) -> None:
    grown = tmp_path / "grown"
    started = time.perf_counter()
    assert generate(grown, 2, seed=5) == 0
    first_call = time.perf_counter() - started
    first_wall = json.loads((grown / "manifest.json").read_text())["wall_s"]
    assert 0 < first_wall <= first_call  # wall time, not a sum of overlapping stage times
    first = (grown / "images/000000.png").stat().st_mtime_ns
    started = time.perf_counter()
    assert generate(grown, 3, seed=5) == 0
    second_call = time.perf_counter() - started
    manifest = json.loads((grown / "manifest.json").read_text())
    total_wall = manifest["wall_s"]
    assert first_wall < total_wall <= first_wall + second_call  # resumed runs add up
    # What the first two images cost stays known after the set grew (a benchmark reports it).
    assert [run["images"] for run in manifest["wall_runs"]] == [[[0, 2]], [[2, 3]]]
    assert wall_seconds(manifest, 2) == pytest.approx(first_wall)
    assert wall_seconds(manifest, 3) == pytest.approx(total_wall)
    assert (grown / "images/000000.png").stat().st_mtime_ns == first
    assert annotations_without_timing(grown) == annotations_without_timing(dataset)


def test_a_set_rendered_before_runs_were_recorded_keeps_its_time_when_extended(tmp_path: Path) -> None:
    """An older manifest holds only a total; extending the set files that total under the old images."""
    grown = tmp_path / "grown"
    assert generate(grown, 2, seed=5) == 0
    manifest = json.loads((grown / "manifest.json").read_text())
    del manifest["wall_runs"]
    (grown / "manifest.json").write_text(json.dumps(manifest))
    assert generate(grown, 3, seed=5) == 0
    runs = json.loads((grown / "manifest.json").read_text())["wall_runs"]
    assert runs[0] == {"images": [[0, 2]], "wall_s": manifest["wall_s"]}
    assert runs[1]["images"] == [[2, 3]]


def test_asking_again_for_a_complete_dataset_changes_no_file(dataset: Path) -> None:
    """A cached set asked for again (every benchmark call does) keeps its labels and its render time."""
    files = ("manifest.json", "annotations.json")
    before = {name: (dataset / name).read_bytes() for name in files}
    assert generate(dataset, 3, seed=5) == 0
    assert {name: (dataset / name).read_bytes() for name in files} == before
    labels = annotations_without_timing(dataset)
    (dataset / "annotations.json").unlink()  # derived data: asking again writes it back
    assert generate(dataset, 3, seed=5) == 0
    assert annotations_without_timing(dataset) == labels


def test_killed_run_resumes_to_the_complete_dataset(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    count = 6  # enough images that the run cannot finish between the first one and the kill
    cmd = [sys.executable, "-m", "scenesmith", "generate", "dice_tray", "--count", str(count), "--seed", "5",
           "--out", str(out), *TINY]  # fmt: skip
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not _wall_runs(out):  # kept with each image, not only when the run ends
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_run = _wall_runs(out)[-1]
    assert killed_run["images"] and killed_run["wall_s"] > 0
    assert not (out / "annotations.json").exists()
    assert len(list((out / "meta").glob("*.json"))) < count
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    resumed = annotations_without_timing(out)
    images = json.loads((out / "annotations.json").read_text())["images"]
    assert [image["id"] for image in images] == list(range(1, count + 1))
    assert [a for a in resumed if a["image_id"] <= 3] == annotations_without_timing(dataset)
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]


def test_a_run_killed_while_its_workers_start_leaves_the_dataset_as_it_was(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a SIGKILL while an extension's workers start would leave on disk: the finished set's
    count, status and recorded times. It left count 4 (so "stopped" for good after) and no times."""
    import scenesmith.pipeline as pipeline

    grown = shutil.copytree(dataset, tmp_path / "grown")
    before = json.loads((grown / "manifest.json").read_text())
    on_disk: list[dict] = []

    def killed_while_starting(*_: object, **__: object) -> None:
        on_disk.append(json.loads((grown / "manifest.json").read_text()))
        raise KeyboardInterrupt  # stands in for the kill; Ctrl-C's own clean-up is tested elsewhere

    monkeypatch.setattr(pipeline, "open_pool", killed_while_starting)
    assert generate(grown, 4, seed=5) == 130
    (left,) = on_disk
    assert (left["count"], left["status"]) == (before["count"], before["status"]) == (3, "complete")
    assert left["wall_runs"] == before["wall_runs"] and left["wall_s"] == before["wall_s"]
    assert left["worker_events"] == before["worker_events"]


def test_a_missing_mask_is_named_with_what_is_wrong(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    (broken / "masks" / "000001_instance.png").unlink()
    assert run_cli(["sheet", str(broken), "--out", str(tmp_path / "sheet.png")]) == 2
    err = capsys.readouterr().err
    assert f"error: {broken / 'masks' / '000001_instance.png'}: missing or unreadable instance mask" in err


def _wall_runs(out: Path) -> list[dict]:
    try:
        return json.loads((out / "manifest.json").read_text()).get("wall_runs", [])
    except (OSError, ValueError):
        return []


def test_a_terminated_run_stops_like_an_interrupted_one(tmp_path: Path) -> None:
    """SIGTERM (a batch system's time limit) ends the run through its `finally` blocks: exit 143, the
    run's wall time and worker events recorded, the set resumable."""
    out = tmp_path / "terminated"
    cmd = [sys.executable, "-m", "scenesmith", "generate", "dice_tray", "--count", "6", "--seed", "5",
           "--out", str(out), *TINY]  # fmt: skip
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out / "meta").exists() or not list((out / "meta").glob("*.json")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "terminated; rerun the same command to resume" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "in_progress" and "worker_events" in manifest and manifest["wall_runs"]


def test_a_folder_whose_start_was_killed_before_its_first_image_takes_any_dataset(
    dataset: Path, tmp_path: Path
) -> None:
    """SIGKILL while the workers start leaves a manifest and no finished image (here also an image and
    a mask of a sample never finished): no dataset is there, and every other seed was refused for good."""
    killed = tmp_path / "killed"
    shutil.copytree(dataset, killed)
    for meta in (killed / "meta").iterdir():
        meta.unlink()
    assert generate(killed, 2, seed=6) == 0
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["seed"] == 6 and manifest["count"] == 2 and manifest["status"] == "complete"
    assert sorted(p.name for p in (killed / "images").iterdir()) == ["000000.png", "000001.png"]
    assert "wall_runs" in manifest and len(manifest["wall_runs"]) == 1  # the killed start's record is gone


def test_a_smaller_count_asked_of_an_unfinished_set_leaves_it_stopped(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Images 1 and 2 of a 3-image set are unfinished; asking for 2 renders image 1 only, so the set
    (count 3) is still not complete, and neither its manifest nor the command may say it is."""
    partial = tmp_path / "partial"
    shutil.copytree(dataset, partial)
    for stem in ("000001", "000002"):
        (partial / "meta" / f"{stem}.json").unlink()
    assert generate(partial, 2, seed=5) == 0
    manifest = json.loads((partial / "manifest.json").read_text())
    assert manifest["count"] == 3 and manifest["status"] == "stopped"
    assert "begun with --count 3 and holds 2 of them; rerun with --count 3" in capsys.readouterr().err
    assert generate(partial, 3, seed=5) == 0
    assert json.loads((partial / "manifest.json").read_text())["status"] == "complete"


def test_generate_says_which_device_it_renders_on(
    dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`--device auto` picks the GPU or the CPU in the workers; the run must say which (the workers'
    own log lines never reach the terminal)."""
    resumed = tmp_path / "resumed"
    shutil.copytree(dataset, resumed)
    (resumed / "meta/000002.json").unlink()
    with caplog.at_level(logging.INFO):
        assert generate(resumed, 3, seed=5) == 0
    assert re.search(r"Cycles renders on the (CPU|GPU via \w+) \(.+\)", caplog.text)


def test_device_gpu_never_falls_back_to_the_cpu_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """preview, sweep and `scenesmith.generate()` render here, not in a pool: `gpu` on a machine
    without one must stop there too, not render on the CPU with nothing said."""
    from scenesmith.render import blender
    from scenesmith.render.devices import DeviceChoice

    monkeypatch.setattr(blender, "select_device", lambda requested: DeviceChoice("CPU", "NONE", ("cpu",)))
    with pytest.raises(UserError, match="--device gpu: the render worker in this process found no usable"):
        next(iter_samples("dice_tray", 1, device="gpu"))


def test_a_set_made_by_another_renderer_is_not_resumed_here(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Images 0–1 were (so the manifest says) made on an OptiX GPU; this machine's workers would add
    a CPU image denoised otherwise: refused before anything is written, and the set is left as it was."""
    other = tmp_path / "other"
    shutil.copytree(dataset, other)
    (other / "meta/000002.json").unlink()
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["render_settings_used"]["device"] = {"device": "GPU", "backend": "OPTIX", "names": ["H100"]}
    manifest["render_settings_used"]["denoiser"] = "OPTIX"
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert generate(other, 3, seed=5) == 2
    err = capsys.readouterr().err
    assert "'backend': 'OPTIX'" in err and "one dataset comes from one renderer" in err
    assert not (other / "meta/000002.json").exists()
    # Whole: it said count 3, in progress, and a run of no images, from then on
    assert json.loads((other / "manifest.json").read_text()) == manifest


def test_a_renderer_the_manifest_did_not_record_yet_is_read_from_the_finished_images(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed (SIGKILL) between an image's meta and the manifest that records it: the images still say
    which renderer made them, and a resume on another one is refused as before."""
    other = tmp_path / "other"
    shutil.copytree(dataset, other)
    (other / "meta/000002.json").unlink()
    manifest = json.loads((other / "manifest.json").read_text())
    del manifest["render_settings_used"]
    (other / "manifest.json").write_text(json.dumps(manifest))
    for stem in ("000000", "000001"):
        meta = json.loads((other / "meta" / f"{stem}.json").read_text())
        meta["render"]["settings"]["device"] = {"device": "GPU", "backend": "OPTIX", "names": ["H100"]}
        meta["render"]["settings"]["denoiser"] = "OPTIX"
        (other / "meta" / f"{stem}.json").write_text(json.dumps(meta))
    assert generate(other, 3, seed=5) == 2
    assert "one dataset comes from one renderer" in capsys.readouterr().err
    assert not (other / "meta/000002.json").exists()


def test_a_set_begun_by_code_that_built_scenes_otherwise_is_not_resumed(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same rules and seed, older build code (its manifest has no build version): its images 0–1
    are not what this code draws for them, so adding image 2 would mix two datasets."""
    older = tmp_path / "older"
    shutil.copytree(dataset, older)
    (older / "meta/000002.json").unlink()
    manifest = json.loads((older / "manifest.json").read_text())
    identity = manifest["identity"]
    del identity["build_version"], identity["dataset_key"]
    identity["dataset_key"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    (older / "manifest.json").write_text(json.dumps(manifest))
    assert generate(older, 3, seed=5) == 2
    assert "differs in: build_version" in capsys.readouterr().err
    assert not (older / "meta/000002.json").exists()


def test_an_adapted_copy_is_never_rendered_into(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`adapt apply` keeps the source's identity in its manifest; a generate that grows it would add raw
    renders to adapted images."""
    adapted = tmp_path / "adapted"
    shutil.copytree(dataset, adapted)
    manifest = json.loads((adapted / "manifest.json").read_text())
    (adapted / "manifest.json").write_text(json.dumps({**manifest, "adapter": {"method": "fda"}}))
    assert generate(adapted, 4, seed=5) == 2
    assert "holds an adapted dataset" in capsys.readouterr().err
    assert not (adapted / "meta" / "000003.json").exists()


class _PoolOf:
    """Stands in for a render pool whose workers render on the given devices, one image each in turn
    (a worker replaced after a crash, or Ray nodes of two kinds); the passes are a rendered set's."""

    def __init__(self, source: Path, devices: list[dict]) -> None:
        self.source, self.devices, self.events = source, devices, []

    def run(self, jobs):
        for n, job in enumerate(jobs):
            stem = f"{job.index:06d}"
            settings = json.loads((self.source / "meta" / f"{stem}.json").read_text())["render"]["settings"]
            device = self.devices[min(n, len(self.devices) - 1)]
            passes = RenderPasses(
                cv2.imread(str(self.source / "images" / f"{stem}.png"))[..., ::-1].copy(),
                read_instance(self.source / "masks" / f"{stem}_instance.png"),
                read_depth(self.source / "depth" / f"{stem}.exr"),
                np.zeros((64, 64, 3), np.float32),
                {**settings, "device": device, "denoiser": "OPTIX" if device["backend"] == "OPTIX" else None},
                {},
            )
            yield RenderResult(job, passes, 0, 0.0, n)


def test_one_run_does_not_mix_renderers(dataset: Path, tmp_path: Path) -> None:
    """A first run whose later images come from a GPU worker, after a first image made on the CPU, stops
    at the first GPU image: the set holds one renderer's images and resumes like any other."""
    cpu = {"device": "CPU", "backend": "NONE", "names": ["cpu"]}
    gpu = {"device": "GPU", "backend": "OPTIX", "names": ["H100"]}
    out = tmp_path / "mixed"
    overrides = ["render.denoise=false", *render_overrides((64, 64), 2)]  # the fixture's
    with pytest.raises(UserError, match="one dataset comes from one renderer"):
        generate_dataset(
            "dice_tray", overrides, count=3, seed=5, out_dir=out, progress=False,
            workers=_PoolOf(dataset, [cpu, gpu]), pool=None,
        )  # fmt: skip
    assert sorted(p.name for p in (out / "meta").iterdir()) == ["000000.json"]


def test_a_run_killed_before_its_first_manifest_resumes(dataset: Path, tmp_path: Path) -> None:
    """Only the first manifest's temp file is on disk: the folder is treated as empty, not as foreign."""
    out = tmp_path / "killed_early"
    out.mkdir()
    (out / ".tmp-manifest.json.abc123.json").write_text('{"identity": {')
    assert generate(out, 3, seed=5) == 0
    assert annotations_without_timing(out) == annotations_without_timing(dataset)
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]


def test_rules_that_draw_an_unbuildable_scene_name_the_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unbuildable_from_image: Callable[[int], None]
) -> None:
    """Image 0 of seed 0 draws a part that cannot be built: one message and exit 2, no traceback."""
    unbuildable_from_image(0)
    args = ["generate", "conveyor_parts", "--count", "2", "--out", str(tmp_path / "out"), *TINY]
    assert run_cli(args) == 2
    assert (
        "image 0 (seed 0) cannot be built: mechanical part is not a closed solid" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "flag", [["--image-timeout", "0"], ["--image-timeout", "nan"], ["--max-worker-rss", "-1"]]
)
def test_bad_worker_flags_are_refused_by_the_parser(
    flag: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """NaN would switch hang detection off (no time exceeds NaN); 0 or -1 would crash deep in the pool."""
    assert run_cli(["generate", "dice_tray", "--count", "1", "--out", str(tmp_path / "o"), *flag]) == 2
    assert f"argument {flag[0]}" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_device_gpu_renders_on_a_gpu_or_stops_saying_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--device gpu` never falls back to the CPU in silence (`auto` is the setting that falls back)."""
    out = tmp_path / "gpu"
    code = run_cli(["generate", "dice_tray", "--count", "1", "--out", str(out), "--device", "gpu", *TINY])
    if code == 0:  # a machine with a usable GPU: it rendered there
        meta = json.loads((out / "meta/000000.json").read_text())
        assert meta["render"]["settings"]["device"]["device"] == "GPU"
    else:
        err = capsys.readouterr().err
        assert code == 2 and "--device gpu: the render worker" in err and "found no usable Cycles GPU" in err
        # Nothing was made: no folder claimed by a manifest of no image (a retry with another seed was
        # refused as "a different dataset").
        assert not out.exists()


def _pip_blobs(rgb: np.ndarray, mask: np.ndarray) -> int:
    """Dark blobs inside a white die's mask, away from its outline (side faces are not counted)."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(float)
    # Pips are much darker than the white body around them, whatever the exposure.
    dark = ((gray < 0.6 * np.median(gray[inner])) & inner).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    return int(sum(1 for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 3))


def test_dice_class_is_confirmed_by_counting_pips_in_pixels() -> None:
    overrides = [
        "render.resolution=[256, 256]",
        "render.samples=8",
        "camera.height_m=0.5",
        "camera.horizontal_fov_deg=12",
        "camera.tilt_deg=0",
        "camera.roll_deg=0",
        "camera.target_jitter_m=0",
        "surfaces.tray.probability=0",
        "objects.dice.count=8",
        "objects.dice.params.size_m=0.018",
        "objects.dice.placement.view_fraction=0.85",
        "objects.strip.count=0",
        "objects.dice.palette=[{materials: {body: {color: '#f4f4f4', roughness: 0.6},"
        " pips: {color: '#050505'}}}]",
        "lighting.ambient.strength=0.3",
    ]
    checked = 0
    for sample in iter_samples("dice_tray", 4, seed=11, overrides=overrides):
        for ann in sample.labels.annotations:
            obj = next(o for o in sample.labels.objects if o["instance_id"] == ann["instance_id"])
            # Tilted dice (iscrowd) show side faces; partly hidden ones lose pips.
            if obj["visibility"] < 0.99 or obj["truncation"] > 0 or ann["iscrowd"]:
                continue
            mask = mask_utils.decode(ann["segmentation"]).astype(bool)
            assert _pip_blobs(sample.rgb, mask) == ann["category_id"], obj["name"]
            checked += 1
    assert checked >= 12


def test_sheet_and_yolo_export_from_the_cli(dataset: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    assert run_cli(["sheet", str(dataset), "--out", str(sheet)]) == 0
    assert cv2.imread(str(sheet)) is not None
    assert run_cli(["export", "yolo", str(dataset), str(tmp_path / "yolo")]) == 0
    coco = json.loads((dataset / "annotations.json").read_text())
    lines = [ln for p in (tmp_path / "yolo" / "labels").rglob("*.txt") for ln in p.read_text().splitlines()]
    assert len(lines) == sum(1 for a in coco["annotations"] if not a["iscrowd"])
    assert run_cli(["sheet", str(tmp_path / "missing"), "--out", str(sheet)]) == 2


def test_yolo_export_in_a_real_sets_box_convention(dataset: Path, tmp_path: Path) -> None:
    """Square, padded boxes about the same centres; the dataset's own boxes stay exact."""
    before = (dataset / "annotations.json").read_text()
    args = ["export", "yolo", str(dataset), str(tmp_path / "yolo"), "--square-boxes", "--box-padding", "0.1"]
    assert run_cli(args) == 0
    coco = json.loads(before)
    image = coco["images"][0]
    rows = [
        ln.split()
        for ln in (tmp_path / "yolo/labels" / f"{Path(image['file_name']).stem}.txt").read_text().splitlines()
    ]
    anns = [a for a in coco["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
    assert len(rows) == len(anns) > 0
    for row, ann in zip(rows, anns, strict=True):
        x, y, w, h = ann["bbox"]
        side = max(w, h) * 1.2
        x0, y0 = max(0.0, x + w / 2 - side / 2), max(0.0, y + h / 2 - side / 2)
        x1, y1 = min(image["width"], x + w / 2 + side / 2), min(image["height"], y + h / 2 + side / 2)
        expected = [(x0 + x1) / 2 / image["width"], (y0 + y1) / 2 / image["height"]]
        expected += [(x1 - x0) / image["width"], (y1 - y0) / image["height"]]
        np.testing.assert_allclose([float(v) for v in row[1:]], expected, atol=1e-5)
    assert (dataset / "annotations.json").read_text() == before
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert data["box_convention"] == "square, padded 0.1 of the side per end"
    assert run_cli([*args[:4], "--box-padding", "1.5"]) == 2  # a fraction of the side, at most 1


def test_jpg_output_like_a_real_camera(tmp_path: Path) -> None:
    out = tmp_path / "jpg"
    assert generate(out, 1, extra=["--image-format", "jpg"]) == 0
    coco = json.loads((out / "annotations.json").read_text())
    assert coco["images"][0]["file_name"].endswith(".jpg")
    assert cv2.imread(str(out / coco["images"][0]["file_name"])).shape == (64, 64, 3)


def test_a_first_run_that_fails_inside_image_0_leaves_a_folder_the_rerun_resumes(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while image 0's depth was written left its rgb and masks beside no manifest: the same
    command then refused the folder as "holds no scenesmith dataset"."""
    from scenesmith.annotate import dataset_writer

    def full_disk(path: Path, depth: np.ndarray) -> Path:
        raise OSError(28, "No space left on device", str(path))

    cpu = {"device": "CPU", "backend": None, "names": ["cpu"]}
    out = tmp_path / "full_disk"
    overrides = ["render.denoise=false", *render_overrides((64, 64), 2)]  # the fixture's
    arguments = {"count": 3, "seed": 5, "out_dir": out, "progress": False, "pool": None}
    with monkeypatch.context() as patch:
        patch.setattr(dataset_writer, "write_depth", full_disk)
        with pytest.raises(OSError, match="No space left"):
            generate_dataset("dice_tray", overrides, workers=_PoolOf(dataset, [cpu]), **arguments)
    assert not out.exists()
    generate_dataset("dice_tray", overrides, workers=_PoolOf(dataset, [cpu]), **arguments)
    assert annotations_without_timing(out) == annotations_without_timing(dataset)
