"""Render presets and --time-budget on real (tiny) renders: what was chosen is recorded and reused."""

from __future__ import annotations

import json
from pathlib import Path

from scenesmith.pipeline import generate_dataset, render_overrides

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


def test_time_budget_picks_samples_once_records_them_and_a_resume_reuses_them(tmp_path: Path) -> None:
    out = tmp_path / "budget"
    generate_dataset(
        "dice_tray", TINY, count=1, seed=2, out_dir=out, device="cpu", progress=False, time_budget=5.0
    )
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
