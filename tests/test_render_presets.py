"""Render quality presets and the time-budget sample rule (bpy-free, no rendering)."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenesmith.render.presets import PRESETS, apply_preset, samples_for_budget
from scenesmith.render.settings import RenderSettings

FIELDS = {f.name for f in fields(RenderSettings)}


def test_presets_are_valid_settings_ordered_by_quality() -> None:
    assert list(PRESETS) == ["draft", "standard", "final"]
    for name, values in PRESETS.items():
        assert set(values) <= FIELDS, name
        assert values["denoise"] is True
        assert values["adaptive_threshold"] > 0  # adaptive sampling on everywhere
        RenderSettings(**values)  # validates
    samples = [PRESETS[n]["samples"] for n in PRESETS]
    thresholds = [PRESETS[n]["adaptive_threshold"] for n in PRESETS]
    assert samples == sorted(samples) and len(set(samples)) == 3
    assert thresholds == sorted(thresholds, reverse=True) and len(set(thresholds)) == 3


def test_presets_cannot_be_mutated() -> None:
    with pytest.raises(TypeError):
        PRESETS["draft"]["samples"] = 1  # type: ignore[index]


def test_apply_preset_returns_new_settings_and_keeps_other_fields() -> None:
    base = RenderSettings(samples=7, denoise=False, device="cpu", view_transform="AgX", threads=3)
    out = apply_preset(base, "standard")
    assert out is not base
    assert (out.samples, out.adaptive_threshold, out.denoise) == (64, 0.02, True)
    assert (out.device, out.view_transform, out.threads) == ("cpu", "AgX", 3)
    assert (base.samples, base.adaptive_threshold, base.denoise) == (7, 0.0, False)
    assert apply_preset(base, "draft").samples == 16
    assert apply_preset(base, "final").samples == 512


@pytest.mark.parametrize("name", ["ultra", "Draft", "", None])
def test_apply_preset_unknown_name_lists_valid_ones(name: object) -> None:
    with pytest.raises(ValueError, match="unknown render preset") as err:
        apply_preset(RenderSettings(), name)  # type: ignore[arg-type]
    for valid in ("draft", "standard", "final"):
        assert valid in str(err.value)


# ------------------------------------------------------------------------- samples_for_budget
def test_samples_for_budget_examples() -> None:
    # 10 samples took 2 s of which 1 s is fixed: 0.1 s per sample.
    assert samples_for_budget(10, 2.0, 1.0, 3.0) == 20
    assert samples_for_budget(10, 2.0, 1.0, 3.05) == 20  # floor: never predicted over budget
    assert samples_for_budget(10, 2.0, 1.0, 1.0) == 1  # fixed cost uses the budget up
    assert samples_for_budget(10, 2.0, 1.0, 0.5, minimum=4) == 4
    assert samples_for_budget(10, 2.0, 1.0, 1000.0, maximum=256) == 256
    assert samples_for_budget(10, 2.0, 1.0, 1.05, minimum=2) == 2  # 0.5 sample fits → minimum
    assert samples_for_budget(4, 0.4, 0.0, 1.2) == 12  # exact multiple is not lost to float error


@pytest.mark.parametrize("budget", [0.0, -1.0, math.nan, math.inf])
def test_samples_for_budget_rejects_bad_budget(budget: float) -> None:
    with pytest.raises(ValueError, match="budget_seconds"):
        samples_for_budget(10, 2.0, 1.0, budget)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"probe_samples": 0}, "probe_samples"),
        ({"fixed_seconds": -0.1}, "fixed_seconds"),
        ({"probe_seconds": 1.0}, "must exceed fixed_seconds"),  # probe == fixed: nothing sampled
        ({"probe_seconds": 0.5}, "must exceed fixed_seconds"),
        ({"minimum": 0}, "minimum"),
        ({"minimum": 8, "maximum": 4}, "maximum"),
    ],
)
def test_samples_for_budget_rejects_bad_probe(kwargs: dict, match: str) -> None:
    args = {"probe_samples": 10, "probe_seconds": 2.0, "fixed_seconds": 1.0, "budget_seconds": 3.0}
    with pytest.raises(ValueError, match=match):
        samples_for_budget(**{**args, **kwargs})


@st.composite
def probes(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 4096))
    fixed = draw(st.floats(0.0, 100.0))
    cost = draw(st.floats(1e-5, 10.0))
    minimum = draw(st.integers(1, 64))
    maximum = draw(st.integers(minimum, minimum + 8192))
    return {
        "probe_samples": n,
        "probe_seconds": fixed + cost * n,
        "fixed_seconds": fixed,
        "minimum": minimum,
        "maximum": maximum,
    }


budgets = st.floats(1e-6, 1e5)


@given(probes(), budgets, budgets)
def test_samples_for_budget_is_monotone_and_clamped(probe: dict, b1: float, b2: float) -> None:
    lo, hi = sorted((b1, b2))
    s_lo = samples_for_budget(budget_seconds=lo, **probe)
    s_hi = samples_for_budget(budget_seconds=hi, **probe)
    assert isinstance(s_lo, int) and isinstance(s_hi, int)
    assert s_lo <= s_hi
    for s in (s_lo, s_hi):
        assert probe["minimum"] <= s <= probe["maximum"]


@given(probes(), budgets)
def test_samples_for_budget_hits_budget_within_one_sample(probe: dict, budget: float) -> None:
    s = samples_for_budget(budget_seconds=budget, **probe)
    fixed = probe["fixed_seconds"]
    per_sample = (probe["probe_seconds"] - fixed) / probe["probe_samples"]
    predicted = fixed + per_sample * s
    slack = 1e-9 * max(budget, predicted)
    if probe["minimum"] < s < probe["maximum"]:  # unclamped
        assert predicted <= budget + slack
        assert budget - predicted < per_sample + slack
    if s == probe["maximum"]:  # capped: the budget would allow at least this many
        assert predicted <= budget + slack or s == probe["minimum"]
    if s == probe["minimum"]:  # floored: not even one more sample fits
        assert budget - predicted < per_sample + slack or s == probe["maximum"]
    if budget <= fixed:
        assert s == probe["minimum"]
