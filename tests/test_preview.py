"""preview and sweep: labelled sheets in memory; a sweep changes only the swept factor."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from scenesmith.cli import main
from scenesmith.pipeline import iter_samples


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code)


def test_preview_writes_a_sheet(tmp_path: Path) -> None:
    out = tmp_path / "preview.png"
    assert run_cli(["preview", "dice_tray", "--count", "2", "--size", "64", "--out", str(out)]) == 0
    assert cv2.imread(str(out)).shape == (64, 128, 3)


def test_sweep_rows_hold_everything_but_the_swept_key(tmp_path: Path) -> None:
    out = tmp_path / "sweep.png"
    args = ["sweep", "dice_tray", "--vary", "camera.tilt_deg", "--values", "0", "20", "--count", "1"]
    assert run_cli([*args, "--size", "64", "--out", str(out)]) == 0
    assert cv2.imread(str(out)).shape[:2] == (128, 64 + 150)
    # With the tray present the dice depend only on the tray (on a bare table they follow the view).
    small = ["render.resolution=[32, 32]", "render.samples=1", "surfaces.tray.probability=1"]
    (flat,) = iter_samples("dice_tray", 1, seed=0, overrides=[*small, "camera.tilt_deg=0"])
    (tilted,) = iter_samples("dice_tray", 1, seed=0, overrides=[*small, "camera.tilt_deg=20"])
    poses = [[o["pose_world"]["matrix"] for o in s.labels.objects] for s in (flat, tilted)]
    assert poses[0] == poses[1]
    assert flat.labels.camera != tilted.labels.camera


def test_sweep_rejects_a_bad_value_before_rendering(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["sweep", "dice_tray", "--vary", "objects.dice.count", "--values", "3", "-1"]
    assert run_cli([*args, "--out", str(tmp_path / "x.png")]) == 2
    assert "objects.dice.count" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_a_sweep_checks_every_value_before_rendering_and_blames_what_was_typed(tmp_path: Path) -> None:
    """A bad key blamed `--set` (which the user never typed); a bad last value failed after every
    earlier row had rendered."""
    from scenesmith.preview import sweep
    from scenesmith.procedural.loader import SceneRuleError

    with pytest.raises(SceneRuleError, match=r"--vary camera\.\.x --values 1: expected key\.path"):
        sweep("dice_tray", "camera..x", ["1"], tmp_path / "a.png")
    with pytest.raises(SceneRuleError, match=r'camera\.tilt_deg: expected a number \(got "abc"\)'):
        sweep("dice_tray", "camera.tilt_deg", ["0", "abc"], tmp_path / "b.png")
    assert not list(tmp_path.iterdir())


def test_a_smaller_camera_sees_the_same_view() -> None:
    """Every point lands where the image scaled about its centre puts it: one scale, square pixels."""
    from scenesmith.procedural.build import build_scene
    from scenesmith.procedural.loader import load_scene

    camera = build_scene(load_scene("dice_tray", ["render.resolution=[1366, 768]"]).rules, 0, 0).camera
    small = camera.resized(192)
    assert (small.width, small.height) == (192, 108)
    points = np.random.default_rng(0).uniform([-0.3, -0.3, 0.0], [0.3, 0.3, 0.1], size=(50, 3))
    (full, depth), (tiny, tiny_depth) = camera.project(points), small.project(points)
    scale = 192 / 1366
    np.testing.assert_allclose(tiny, scale * (full - [683, 384]) + [96, 54], atol=1e-9)
    np.testing.assert_array_equal(depth, tiny_depth)
    assert small.K[0, 0] == small.K[1, 1]


@pytest.mark.parametrize(
    ("scene", "resolution"),
    [("aerial_airplanes", None), ("dice_tray", "render.resolution=[1366, 768]")],
)
def test_a_preview_tile_shows_the_dataset_image_it_is_numbered_as(scene: str, resolution: str | None) -> None:
    """A preview built its scenes at the preview's size: a satellite came closer (4.8 km → 1.8 km, 21 →
    18 objects) and dice settled elsewhere (0.4 m apart at 1366 × 768). Now only the render is small."""
    from scenesmith.pipeline import build_image
    from scenesmith.procedural.loader import load_scene

    overrides = ["render.samples=1", "render.denoise=false", *([resolution] if resolution else [])]
    (sample,) = iter_samples(scene, 1, seed=0, overrides=overrides, long_side=48)
    dataset = build_image(load_scene(scene, overrides), 0, 0)
    assert [o.name for o in sample.description.objects] == [o.name for o in dataset.objects]
    assert all(
        np.array_equal(a.pose, b.pose)
        for a, b in zip(sample.description.objects, dataset.objects, strict=True)
    )
    assert max(sample.rgb.shape[:2]) == 48


def test_a_wide_scene_previews_wide_at_the_asked_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when the aspect comes from a --set: --size decides the render's size, not the 1280 × 720."""
    from scenesmith import preview as preview_module

    shapes: list[tuple[int, ...]] = []

    def recording(*args: object, **kwargs: object):  # noqa: ANN202
        for sample in iter_samples(*args, **kwargs):
            shapes.append(sample.rgb.shape)
            yield sample

    monkeypatch.setattr(preview_module, "iter_samples", recording)
    args = ["preview", "dice_tray", "--set", "render.resolution=[1280, 720]", "--count", "1", "--size", "64"]
    assert run_cli([*args, "--out", str(tmp_path / "wide.png")]) == 0
    assert shapes == [(36, 64, 3)]
    assert cv2.imread(str(tmp_path / "wide.png")).shape == (64, 64, 3)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--size", "4"], "--size: expected 8 to 8192 pixels, got 4"),
        (["--out", "sheet.jpg"], "sheet.jpg: expected a .png file name"),
    ],
)
def test_preview_flags_are_refused_in_their_own_terms(
    args: list[str],
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--size 4` was blamed on `render.resolution[0]`, and `--out x.jpg` got PNG bytes."""
    monkeypatch.chdir(tmp_path)
    assert run_cli(["preview", "dice_tray", "--out", "sheet.png", *args]) == 2
    assert says in capsys.readouterr().err


def test_an_interrupted_preview_does_not_promise_a_resume(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ "Rerun the same command to resume" was printed for every command, previews included."""
    from scenesmith import preview as preview_module

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(preview_module, "preview", interrupted)
    assert run_cli(["preview", "dice_tray", "--out", str(tmp_path / "p.png")]) == 130
    assert capsys.readouterr().err == "scenesmith: interrupted\n"
