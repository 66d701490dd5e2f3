"""The dice_tray rules behind the published benchmark stay reproducible from this repository.

Why: a benchmark number is only worth something if its synthetic set can be rebuilt. The headline
records its scene and the rules hash of the set it trained on; the built-in scene is promoted from
a measured iteration file, and iteration files extend a frozen copy of the older built-in, so editing
the built-in never silently changes what an earlier result trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenesmith.benchmark.synthetic import SyntheticSpec
from scenesmith.procedural.build import BUILD_VERSION
from scenesmith.procedural.loader import load_scene

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = ROOT / "benchmark" / "results" / "dice.json"
MEASURED_ITERATION = ROOT / "benchmark" / "iterations" / "dice_tray_v5.yaml"


def _rules_without_names(scene: str) -> dict:
    rules = load_scene(scene).rules.model_dump(mode="json")
    rules.pop("name")
    rules.pop("description")
    return rules


def test_the_built_in_dice_tray_is_the_measured_iteration() -> None:
    assert _rules_without_names("dice_tray") == _rules_without_names(str(MEASURED_ITERATION))


def _headline_spec() -> tuple[dict, SyntheticSpec]:
    synthetic = json.loads(HEADLINE.read_text())["synthetic"]
    scene = synthetic["scene"]
    if scene.endswith((".yaml", ".yml")):
        scene = str(ROOT / scene)
    spec = SyntheticSpec(
        scene,
        synthetic["count"],
        synthetic["seed"],
        tuple(synthetic["resolution"]),
        synthetic["samples"],
        tuple(synthetic["overrides"]),
    )
    return synthetic, spec


def test_the_headline_synthetic_set_has_the_rules_in_this_repository() -> None:
    synthetic, spec = _headline_spec()
    published = Path(synthetic["folder"]).name
    assert spec.folder_name.removesuffix(f"_build{BUILD_VERSION}") == published.split("_build")[0]


@pytest.mark.xfail(
    strict=True,
    reason="the published headline trained on build-1 renders; build 2 (2026-12-07) keeps placed objects "
    "in the picture and gives each object's look its own stream, so its synthetic arms are to be "
    "measured again (the real-only arms do not change)",
)
def test_the_headline_synthetic_set_is_what_this_code_renders() -> None:
    synthetic, spec = _headline_spec()
    assert synthetic.get("build_version", 1) == BUILD_VERSION
    assert spec.folder_name == Path(synthetic["folder"]).name


def test_the_benchmark_defaults_are_the_headline_recipe() -> None:
    """A user who runs `scenesmith benchmark` with the README's flags gets the method the published
    numbers measured, not an older or a weaker one."""
    from scenesmith.cli import build_parser

    headline = json.loads(HEADLINE.read_text())
    args = build_parser().parse_args(["benchmark", "--real", "photos", "--out", "run"])
    assert args.synthetic == headline["synthetic"]["count"]
    assert (args.samples, tuple(args.resolution)) == (
        headline["synthetic"]["samples"],
        tuple(headline["synthetic"]["resolution"]),
    )
    assert args.finetune_learning_rate == headline["finetune_learning_rate"]
    assert args.finetune_synthetic_share == headline["finetune_synthetic_share"]
    assert args.finetune_ema == headline["finetune_ema"]
    assert args.synthetic_augment == headline["synthetic_augment"]
    assert args.tta == headline["tta"]
    assert args.seeds == headline["seeds"]
    assert args.max_steps == headline["train_config"]["max_steps"]


def test_the_cli_without_flags_asks_for_the_library_defaults() -> None:
    """The command line and `BenchmarkConfig` share one set of defaults; a flag that maps its value on
    the way in (percent → fraction, 'none' → None, the crop into the augmentation) must not alter it."""
    from scenesmith.benchmark.config import BenchmarkConfig
    from scenesmith.cli import benchmark_config, build_parser

    args = build_parser().parse_args(["benchmark", "--out", "run"])
    assert benchmark_config(args) == BenchmarkConfig(out=Path("run"))
