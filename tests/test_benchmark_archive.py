"""Archive restore: a part-trained run in the target folder gives way to the archived finished run."""

from __future__ import annotations

from pathlib import Path

from scenesmith.benchmark.archive import restore_runs


def _files(folder: Path, names: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in names.items():
        (folder / name).write_text(text)
    return folder


def test_restoring_over_a_part_trained_run_drops_its_weights_and_state(tmp_path: Path) -> None:
    """Its best.pt beside the finished run's result.json would be scored as the finished run's."""
    archive, run = tmp_path / "archive", tmp_path / "run"
    for folder in (archive, run):
        _files(folder, {"config.json": "{}"})
    finished = {"result.json": "{}", "test.json": "{}", "real_val.json": "{}"}
    _files(archive / "arms/real_100/seed0", finished)
    _files(archive / "arms/synthetic_only/seed0", finished | {"best.pt": "pretrained"})
    _files(run / "arms/real_100/seed0", {"best.pt": "step 2", "state.pt": "step 2", "box_factor.json": "{}"})
    _files(run / "arms/synthetic_only/seed0", {"best.pt": "step 2", "state.pt": "step 2"})
    assert restore_runs(archive, run) == ["real_100/seed0", "synthetic_only/seed0"]
    assert sorted(p.name for p in (run / "arms/real_100/seed0").iterdir()) == sorted(finished)
    pretraining = run / "arms/synthetic_only/seed0"
    assert sorted(p.name for p in pretraining.iterdir()) == sorted([*finished, "best.pt"])
    assert (pretraining / "best.pt").read_text() == "pretrained"
