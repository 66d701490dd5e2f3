"""Copying runs between run folders: only finished runs, never over this folder's own; real-only runs only
from a folder whose settings differ in synthetic ones alone, pretrainings only from one whose settings
differ in fine-tune ones alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenesmith.benchmark.reuse import copied_from, copy_pretrainings, copy_real_runs
from scenesmith.errors import UserError

SETTINGS = {
    "train": {"max_steps": 6000},
    "split_seed": 0,
    "scene": "dice_tray",
    "synthetic_sets": {"scene": "a"},
}


def _run_folder(root: Path, settings: dict, finished: list[str], unfinished: list[str]) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps(settings))
    for run in finished + unfinished:
        (root / "arms" / run).mkdir(parents=True)
        (root / "arms" / run / "best.pt").write_bytes(run.encode())
    for run in finished:
        (root / "arms" / run / "result.json").write_text(json.dumps({"run": run}))
    return root


def test_only_finished_runs_missing_here_are_copied_and_marked(tmp_path: Path) -> None:
    source = _run_folder(tmp_path / "old", SETTINGS, ["real_100/seed0", "real_100/seed1"], ["real_100/seed2"])
    iteration = {**SETTINGS, "scene": "dice_tray_v5", "synthetic_sets": {"scene": "b"}}
    out = _run_folder(tmp_path / "new", iteration, ["real_100/seed1"], [])
    (out / "arms" / "real_100" / "seed1" / "best.pt").write_bytes(b"trained here")

    copied = copy_real_runs(source, out, iteration, ["real_100"], seeds=3)

    assert copied == ["real_100/seed0"]
    seed0 = out / "arms" / "real_100" / "seed0"
    assert (seed0 / "best.pt").read_bytes() == b"real_100/seed0"
    assert copied_from(seed0) == str((source / "arms" / "real_100" / "seed0").resolve())
    assert (out / "arms" / "real_100" / "seed1" / "best.pt").read_bytes() == b"trained here"
    assert copied_from(out / "arms" / "real_100" / "seed1") is None
    assert not (out / "arms" / "real_100" / "seed2").exists()  # unfinished there: trained here
    assert not [p for p in (out / "arms" / "real_100").iterdir() if p.name.startswith(".")]  # no staging left


def test_a_folder_with_other_real_settings_is_refused_by_name(tmp_path: Path) -> None:
    source = _run_folder(tmp_path / "old", SETTINGS, ["real_100/seed0"], [])
    other = {**SETTINGS, "train": {"max_steps": 12000}}
    with pytest.raises(UserError, match=r"other settings \(train\)"):
        copy_real_runs(source, tmp_path / "new", other, ["real_100"], seeds=1)


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a benchmark run folder"):
        copy_real_runs(tmp_path, tmp_path / "new", SETTINGS, ["real_100"], seeds=1)


def test_a_folder_with_another_finetune_learning_rate_still_lends_its_real_runs(tmp_path: Path) -> None:
    """Real-only arms start from scratch: the fine-tunes' learning rate never reaches them."""
    source = _run_folder(tmp_path / "old", SETTINGS, ["real_10/seed0"], [])
    recipe = {**SETTINGS, "finetune_learning_rate": 0.0005}
    assert copy_real_runs(source, tmp_path / "new", recipe, ["real_10"], seeds=1) == ["real_10/seed0"]


def test_pretrainings_are_lent_across_fine_tune_settings_but_adapted_ones_are_not(tmp_path: Path) -> None:
    runs = ["synthetic_only/seed0", "control_only/seed0", "adapted_fda_only/seed0"]
    source = _run_folder(tmp_path / "old", SETTINGS, runs, [])
    recipe = {**SETTINGS, "finetune_learning_rate": 0.0005}
    names = ["synthetic_only", "control_only", "adapted_fda_only"]

    copied = copy_pretrainings(source, tmp_path / "new", recipe, names, seeds=1)

    assert copied == ["synthetic_only/seed0", "control_only/seed0"]  # an adapter is not named in the settings
    assert copied_from(tmp_path / "new" / "arms" / "synthetic_only" / "seed0") is not None


def test_pretrainings_on_other_scene_rules_are_refused_by_name(tmp_path: Path) -> None:
    source = _run_folder(tmp_path / "old", SETTINGS, ["synthetic_only/seed0"], [])
    iteration = {**SETTINGS, "synthetic_sets": {"scene": "b"}}
    with pytest.raises(
        UserError, match=r"--pretrainings-from .*other settings \(synthetic_sets\).*fine-tune"
    ):
        copy_pretrainings(source, tmp_path / "new", iteration, ["synthetic_only"], seeds=1)


def test_runs_never_annealed_are_lent_to_a_folder_that_anneals_but_runs_annealed_otherwise_are_not(
    tmp_path: Path,
) -> None:
    """A lent run is annealed where it lands (the anneal depends on its best weights alone)."""
    annealing = {**SETTINGS, "train": {"max_steps": 6000, "anneal_steps": 1000}}
    plain = _run_folder(tmp_path / "plain", SETTINGS, ["real_100/seed0"], [])
    assert copy_real_runs(plain, tmp_path / "new", annealing, ["real_100"], seeds=1) == ["real_100/seed0"]
    shorter = _run_folder(
        tmp_path / "shorter",
        {**SETTINGS, "train": {"max_steps": 6000, "anneal_steps": 500}},
        ["real_100/seed0"],
        [],
    )
    with pytest.raises(UserError, match=r"other settings \(train\)"):
        copy_real_runs(shorter, tmp_path / "other", annealing, ["real_100"], seeds=1)
    with pytest.raises(UserError, match=r"other settings \(train\)"):  # and never the other way round
        copy_real_runs(shorter, tmp_path / "third", SETTINGS, ["real_100"], seeds=1)


def test_a_run_scored_the_old_way_without_weights_is_refused_before_anything_is_copied(
    tmp_path: Path,
) -> None:
    """Lent, it trained every other run and then failed when the report read it: the score cannot be
    redone without weights (an archive keeps none), nor reported as it is."""
    source = _run_folder(tmp_path / "old", SETTINGS, ["real_100/seed0", "real_100/seed1"], [])
    (source / "arms/real_100/seed1/best.pt").unlink()  # restored from an archive
    (source / "arms/real_100/seed1/test.json").write_text(json.dumps({"map": 0.5, "tta": "dihedral"}))
    with pytest.raises(
        UserError, match=r"seed1/test\.json ranks each die by its best class.*train real_100 here"
    ):
        copy_real_runs(source, tmp_path / "new", SETTINGS, ["real_100"], seeds=2)
    assert not (tmp_path / "new" / "arms").exists()  # nothing copied, not even the usable seed 0
    (source / "arms/real_100/seed1/test.json").write_text(json.dumps({"map": 0.5, "die_ranked_by": "score"}))
    assert copy_real_runs(source, tmp_path / "new", SETTINGS, ["real_100"], seeds=2) == [
        "real_100/seed0",
        "real_100/seed1",
    ]
