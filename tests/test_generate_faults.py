"""A real `scenesmith generate` whose render worker is SIGKILLed still ends complete and unique."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenesmith.benchmark.scale_bench import kills
from scenesmith.errors import UserError
from scenesmith.procedural.loader import SceneRuleError

TINY = ["render.resolution=[48, 48]", "render.samples=1", "render.denoise=false"]


def test_generate_with_its_worker_killed_twice_yields_every_image_once(tmp_path: Path) -> None:
    report = kills("dice_tray", TINY, count=12, kills=2, out=tmp_path / "killed", seed=4)
    assert report["exit_code"] == 0, report["stderr_tail"]
    assert len(report["killed"]) == 2
    assert report["images_in_coco"] == report["unique_ids"] == report["meta_files"] == 12
    assert report["ids_are_1_to_n"] and not report["unreadable_images"]
    deaths = [event for event in report["worker_events"] if "code -9" in event]
    assert len(deaths) == 2, (report["killed"], report["worker_events"])


def test_kills_too_late_to_hit_a_working_render_worker_are_refused(tmp_path: Path) -> None:
    """Images on disk trail the renders: a kill timed near the end would hit a worker that is done."""
    with pytest.raises(ValueError, match="need more than 8 images, not 8"):
        kills("dice_tray", TINY, count=8, kills=2, out=tmp_path / "killed")
    assert not (tmp_path / "killed").exists()  # refused before the run under test was started


def test_a_kill_benchmark_that_cannot_run_says_why_before_starting_anything(tmp_path: Path) -> None:
    with pytest.raises(SceneRuleError, match="nosuch"):
        kills("nosuch", TINY, count=12, kills=1, out=tmp_path / "k")
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="--out .*taken: exists"):
        kills("dice_tray", TINY, count=12, kills=1, out=tmp_path / "taken")
    assert not (tmp_path / "k").exists()


def test_the_kill_benchmark_renders_on_the_device_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bench kills --device gpu` was accepted, then rendered on the CPU (the child had `cpu` written in)."""
    import subprocess

    from scenesmith.benchmark import scale_bench
    from scenesmith.cli import main

    started: list[list[str]] = []

    def popen(cmd: list[str], **kwargs: object) -> None:
        started.append(cmd)
        raise OSError("stop here")

    monkeypatch.setattr(subprocess, "Popen", popen)
    assert scale_bench.subprocess is subprocess
    with pytest.raises(SystemExit):
        main(
            [
                "bench",
                "kills",
                "--device",
                "gpu",
                "--count",
                "12",
                "--kills",
                "1",
                "--out",
                str(tmp_path / "k"),
            ]
        )
    assert started and started[0][started[0].index("--device") + 1] == "gpu"
