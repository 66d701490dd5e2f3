"""Bootstrap intervals over seeds and scored photos together, from the image draws every score keeps.

Why a module of its own: the report (arms against each other) and `scenesmith compare` (a rules change
against the run before it) ask the same question of the same draws, and compare must not need the
plotting the report imports.
"""

from __future__ import annotations

import numpy as np


def draws_difference_interval(
    draws: dict[int, list[float]], other: dict[int, list[float]], resamples: int = 2000
) -> list[float]:
    """95% interval of the mean over seeds of `draws` minus that of `other` (per seed: its scores on
    the shared image draws, see `evaluate.image_resampled_maps`).

    Each round draws seeds with replacement and one image draw shared by both (the same photos judge
    both). Seeds are paired when both ran the same ones: seed k of real_10 and of synthetic_to_10
    fine-tune on the same real photos, so their difference is the pretraining's alone.
    """
    rng = np.random.default_rng(0)
    tables = [np.asarray([runs[k] for k in sorted(runs)], float) for runs in (draws, other)]
    image_draw = rng.integers(tables[0].shape[1], size=(resamples, 1))
    seeds = [rng.integers(len(table), size=(resamples, len(table))) for table in tables]
    if set(draws) == set(other):
        seeds[1] = seeds[0]
    means = [table[chosen, image_draw].mean(axis=1) for table, chosen in zip(tables, seeds, strict=True)]
    difference = means[0] - means[1]
    return [float(np.percentile(difference, 2.5)), float(np.percentile(difference, 97.5))]
