"""Render presets, --time-budget and device choices, on real (tiny) renders where a render is needed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from scenesmith import pipeline
from scenesmith.errors import UserError
from scenesmith.pipeline import generate_dataset, render_overrides
from scenesmith.procedural.loader import SceneRuleError
from scenesmith.time_budget import samples_from_probes

TINY = ["render.resolution=[48, 48]", "render.denoise=false"]


def _meta_samples(out: Path) -> set[int]:
    return {json.loads(p.read_text())["render"]["settings"]["samples"] for p in (out / "meta").glob("*.json")}


def test_preset_sets_the_rules_and_an_explicit_samples_wins() -> None:
    assert render_overrides(None, None, "draft") == [
        "render.samples=16",
        "render.adaptive_threshold=0.1",
        "render.denoise=true",
    ]
    assert render_overrides(None, 3, "final")[-1] == "render.samples=3"


def test_a_users_set_beats_the_preset_and_samples_beats_both() -> None:
    """`--preset draft --set render.adaptive_threshold=0.05` rendered at the preset's 0.1 without a word:
    the preset's overrides came after the user's."""
    from scenesmith.cli import build_parser, render_overrides_for
    from scenesmith.procedural.loader import load_scene

    args = build_parser().parse_args(
        ["generate", "dice_tray", "--count", "1", "--out", "o", "--preset", "draft",
         "--set", "render.adaptive_threshold=0.05",
         "--set", "render.denoise=false", "--set", "render.samples=8"]
    )  # fmt: skip
    render = load_scene("dice_tray", render_overrides_for(args, None)).rules.render
    assert (render.adaptive_threshold, render.denoise, render.samples) == (0.05, False, 8)
    args.samples = 3
    assert load_scene("dice_tray", render_overrides_for(args, None)).rules.render.samples == 3


def test_budget_samples_come_from_a_measured_slope_and_are_never_extrapolated_far() -> None:
    """Probes the noise could not tell apart chose 4096 samples (predicted: the fixed cost alone)."""
    noise = samples_from_probes({4: 1.002, 16: 1.001}, 2.5)
    assert noise["samples"] == 16 and noise["seconds_per_sample"] is None
    assert noise["predicted_seconds"] == 1.001
    assert samples_from_probes({4: 1.002, 16: 1.001}, 0.5)["samples"] == 4  # not even 16 fits
    measured = samples_from_probes({4: 1.0, 16: 2.2}, 3.0)  # 0.1 s a sample on 0.6 s fixed
    assert measured["samples"] == 24 and measured["predicted_seconds"] == pytest.approx(3.0)
    assert samples_from_probes({4: 1.0, 16: 1.1}, 100.0)["samples"] == 128  # 8 × the larger probe


def test_time_budget_picks_samples_once_records_them_and_a_resume_reuses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "budget"
    generate_dataset(
        "dice_tray", TINY, count=1, seed=2, out_dir=out, device="cpu", progress=True, time_budget=5.0
    )
    assert "time budget: timing probe renders" in capsys.readouterr().err  # it was silent for seconds
    manifest = json.loads((out / "manifest.json").read_text())
    chosen = manifest["time_budget"]["samples"]
    assert manifest["time_budget"]["budget_seconds"] == 5.0
    assert manifest["scene"]["rules"]["render"]["samples"] == chosen
    fit = manifest["time_budget"]
    assert fit["predicted_seconds"] <= 5.0 or chosen == 1
    assert _meta_samples(out) == {chosen}
    # Growing the dataset does not calibrate again (it would be refused if the count moved).
    generate_dataset(
        "dice_tray", TINY, count=2, seed=2, out_dir=out, device="cpu", progress=False, time_budget=5.0
    )
    assert json.loads((out / "manifest.json").read_text())["time_budget"] == fit
    assert _meta_samples(out) == {chosen}
    # `--samples N` with the recorded N regenerates and grows it too, keeping the calibration: erased,
    # the original --time-budget command was refused on the folder from then on.
    generate_dataset(
        "dice_tray", [*TINY, f"render.samples={chosen}"], count=3, seed=2, out_dir=out, device="cpu",
        progress=False,
    )  # fmt: skip
    assert json.loads((out / "manifest.json").read_text())["time_budget"] == fit
    generate_dataset(
        "dice_tray", TINY, count=3, seed=2, out_dir=out, device="cpu", progress=False, time_budget=5.0
    )
    assert _meta_samples(out) == {chosen}


def _no_calibration(*args, **kwargs):
    raise AssertionError("calibrated (two Blender starts, six renders) before refusing")


def test_time_budget_refuses_a_foreign_folder_and_unbuildable_rules_before_calibrating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unbuildable_from_image: Callable[[int], None]
) -> None:
    monkeypatch.setattr(pipeline, "calibrate_samples", _no_calibration)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds no scenesmith dataset"):
        generate_dataset("dice_tray", TINY, count=1, out_dir=foreign, progress=False, time_budget=5.0)
    other = tmp_path / "other"  # a dataset made with a fixed sample count
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"identity": {"dataset_key": "made with --samples 8"}}))
    (other / "meta").mkdir()
    (other / "meta" / "000000.json").write_text("{}")  # a finished image: a start killed at once has none
    with pytest.raises(UserError, match="holds a dataset not calibrated to --time-budget 5"):
        generate_dataset("dice_tray", TINY, count=1, out_dir=other, progress=False, time_budget=5.0)
    unbuildable_from_image(0)
    with pytest.raises(SceneRuleError, match=r"image 0 \(seed 0\) cannot be built: .*closed solid"):
        generate_dataset(
            "conveyor_parts", [], count=1, out_dir=tmp_path / "new", progress=False, time_budget=5.0
        )


def test_a_time_budget_on_ray_is_refused_before_calibrating_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calibration renders on this machine, so a login node's CPU fixed the sample count of the
    cluster's GPU actors (and `--device gpu` stopped at once, this machine having none)."""
    monkeypatch.setattr(pipeline, "calibrate_samples", _no_calibration)
    with pytest.raises(UserError, match="--time-budget calibrates .* ray backend's workers .* --samples"):
        generate_dataset(
            "dice_tray", TINY, count=1, out_dir=tmp_path / "d", progress=False, backend="ray", time_budget=5.0
        )
    assert not (tmp_path / "d").exists()


def test_an_address_without_ray_is_refused_before_the_folder_is_made(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--address 10.0.0.1:6379: only for --backend ray"):
        generate_dataset(
            "dice_tray", TINY, count=1, out_dir=tmp_path / "d", progress=False, address="10.0.0.1:6379"
        )
    assert not (tmp_path / "d").exists()


def test_bench_render_with_device_gpu_and_no_gpu_stops_before_timing_cpu_renders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It timed every render on the CPU and failed only afterwards; `gpu` never falls back."""
    from scenesmith.benchmark.render_bench import run_render_benchmark
    from scenesmith.render.blender import BlenderRenderer
    from scenesmith.render.devices import select_device

    if select_device("auto").device == "GPU":
        pytest.skip("this machine has a Cycles GPU: the refusal cannot happen here")

    def no_render(*_: object) -> None:
        raise AssertionError("rendered on the CPU before refusing --device gpu")

    monkeypatch.setattr(BlenderRenderer, "render", no_render)
    with pytest.raises(UserError, match="--device gpu: the render worker in this process found no usable"):
        run_render_benchmark("dice_tray", TINY, count=1, device="gpu", warmup=0)


def test_a_gpu_choice_reapplied_after_another_renderers_close_enables_its_gpu_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """close() resets factory settings, which empties Cycles' device list; re-applying the GPU choice
    enabled nothing then, and Cycles rendered on the CPU while the settings said GPU. Fake preferences:
    no GPU is needed to check what is enabled."""
    from types import SimpleNamespace

    from scenesmith.render import devices

    class Preferences:
        def __init__(self) -> None:
            self.compute_device_type, self.devices = "NONE", []  # as after read_factory_settings

        def refresh_devices(self) -> None:
            self.devices = [SimpleNamespace(type="CPU", id="cpu", use=True)]
            self.devices.append(SimpleNamespace(type="OPTIX", id="gpu0", use=False))

    prefs = Preferences()
    monkeypatch.setattr(devices, "_cycles_prefs", lambda: prefs)
    devices.apply_device(devices.DeviceChoice("GPU", "OPTIX", ("H100",)))
    assert prefs.compute_device_type == "OPTIX"
    assert [(d.type, d.use) for d in prefs.devices] == [("CPU", False), ("OPTIX", True)]

    # A GPU that cannot be enabled again is an error, not a quiet render on the CPU.
    gone = Preferences()
    gone.refresh_devices = lambda: setattr(gone, "devices", [SimpleNamespace(type="CPU", id="cpu", use=True)])
    monkeypatch.setattr(devices, "_cycles_prefs", lambda: gone)
    with pytest.raises(RuntimeError, match="no OPTIX device H100 any more: it would render on the CPU"):
        devices.apply_device(devices.DeviceChoice("GPU", "OPTIX", ("H100",)))

    def broken() -> None:
        raise AttributeError("'NoneType' object has no attribute 'preferences'")

    monkeypatch.setattr(devices, "_cycles_prefs", broken)
    with pytest.raises(RuntimeError, match="could not re-apply the Cycles GPU device OPTIX"):
        devices.apply_device(devices.DeviceChoice("GPU", "OPTIX", ("H100",)))
    devices.apply_device(devices.DeviceChoice("CPU", "NONE"))  # the CPU is Cycles' default anyway


def test_a_rejected_description_is_an_error_to_fix_not_a_rerun_to_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Descriptions are a pure function of the rules and the seed: "rerun to resume" met the same
    refusal again."""
    from scenesmith.cli import main
    from scenesmith.render.pool import DescriptionRejected

    def rejected(**_: object) -> None:
        raise DescriptionRejected("image 3: the renderer rejected its description: bad value")

    monkeypatch.setattr(pipeline, "generate_dataset", rejected)
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "dice_tray", "--count", "4", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "image 3: the renderer rejected its description" in err
    assert "change the scene rules" in err and "rerun" not in err


def test_time_budget_with_samples_is_refused_before_anything_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The calibrated count was appended after `--samples` and won without a word."""
    from scenesmith.cli import main

    out = tmp_path / "d"
    both = ["--samples", "64", "--time-budget", "5"]
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "dice_tray", "--count", "1", "--out", str(out), *both])
    assert exit_info.value.code == 2
    message = "--time-budget picks the sample count itself: give it or --samples (render.samples), not both"
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "dice_tray", "--count", "1", "--out", str(out), "--time-budget", "5",
              "--set", "render.samples=64"])  # fmt: skip
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--resolution", "9000x9000"], "--resolution: expected WIDTHxHEIGHT, each 8 to 8192"),
        (["--samples", "100000000"], "--samples: expected 1 to 65536 samples, got 100000000"),
    ],
)
def test_render_flags_past_the_rules_bounds_are_refused_in_their_own_terms(
    flags: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were blamed on `render.resolution[0]` and `render.samples`, keys the user never typed."""
    from scenesmith.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "dice_tray", "--count", "1", "--out", str(tmp_path / "d"), *flags])
    assert exit_info.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
