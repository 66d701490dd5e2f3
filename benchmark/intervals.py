"""95% intervals over seeds and scored photos together, from the image draws every score keeps.

Why a module of its own: the report (arms against each other) and `scenesmith compare` (a rules change
against the run before it) ask the same question of the same draws, and compare must not need the
plotting the report imports.

Why Student t and not a bootstrap of the seeds: with 3 seeds a percentile bootstrap can never reach
outside the seeds' own range and shrinks their variance by 2/3, so its "95%" interval holds the true
mean about 75–85% of the time. Here the seeds' part is the t interval of their mean (2 degrees of
freedom for 3 seeds: wide, as 3 seeds are), and the photos' part is the variance of the mean over
the shared test-image draws; the two add, and the degrees of freedom follow Welch–Satterthwaite
(the image part, from 200 draws, counts as exact).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _half_width(seed_var: float, seed_df: float, image_var: float) -> float:
    """Half-width of a 95% t interval for a mean whose variance is `seed_var` (estimated with `seed_df`
    degrees of freedom) plus `image_var` (taken as known)."""
    total = seed_var + image_var
    if total <= 0:
        return 0.0
    df = seed_df * (total / seed_var) ** 2 if seed_var > 0 and seed_df > 0 else np.inf
    return float(stats.t.ppf(0.975, df) * np.sqrt(total))  # df = inf: the normal 1.96


def _welch(parts: list[float], sizes: tuple[int, ...]) -> tuple[float, float]:
    """(variance, Welch–Satterthwaite degrees of freedom) of a sum of independent seed-mean variances
    `parts`, each estimated from `sizes[i]` seeds (a part from one seed is 0 and adds no freedom)."""
    total = sum(parts)
    denominator = sum(p**2 / (n - 1) for p, n in zip(parts, sizes, strict=True) if n > 1)
    return total, (total**2 / denominator if denominator > 0 else 0)


def _image_var(tables: list[np.ndarray], signs: tuple[int, ...]) -> float:
    """Variance over the shared test-image draws of Σ sign × (mean over seeds of each table's draws)."""
    per_draw = sum(sign * table.mean(axis=0) for sign, table in zip(signs, tables, strict=True))
    return float(np.var(per_draw, ddof=1)) if np.ndim(per_draw) and len(per_draw) > 1 else 0.0


def recentred(table: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each seed's draws shifted so their mean is its full-set score. Why: mAP recomputed on resampled
    photo sets runs about 0.8 points above the full-set mAP (pycocotools' interpolated precision),
    and an interval taken from the raw draws would sit that much too high."""
    return table - table.mean(axis=1, keepdims=True) + scores[:, None]


def mean_interval(scores: np.ndarray, table: np.ndarray | None = None) -> list[float]:
    """95% interval of the mean of `scores` (one per seed); `table` [seed, image draw] adds the photos'
    spread. One seed alone gives the photos' spread only (or no width at all)."""
    n = len(scores)
    seed_var = float(np.var(scores, ddof=1)) / n if n > 1 else 0.0
    image_var = _image_var([recentred(table, scores)], (1,)) if table is not None else 0.0
    half = _half_width(seed_var, n - 1, image_var)
    mean = float(np.mean(scores))
    return [mean - half, mean + half]


def draws_difference_interval(
    scores: dict[int, float],
    draws: dict[int, list[float]],
    other_scores: dict[int, float],
    other_draws: dict[int, list[float]],
) -> list[float]:
    """95% interval of the mean over seeds of `scores` minus that of `other_scores` (per seed: its
    full-set score, and its scores on the shared image draws, see `evaluate.image_resampled_maps`),
    centred on that difference.

    Seeds are paired when both ran the same ones: seed k of real_10 and of synthetic_to_10 fine-tune on
    the same real photos, so their difference is the pretraining's alone and only its spread over
    seeds counts; otherwise the two arms' seed variances add (Welch). The seeds' spread is that of the
    full-set scores, as in `mean_interval`. The same photos judge both, so the image part is the spread
    of the per-draw difference.
    """
    seeds, other_seeds = sorted(scores), sorted(other_scores)
    means = [
        np.array([s[k] for k in keys], float) for s, keys in ((scores, seeds), (other_scores, other_seeds))
    ]
    tables = [
        recentred(np.asarray([d[k] for k in keys], float), m)
        for d, keys, m in ((draws, seeds, means[0]), (other_draws, other_seeds, means[1]))
    ]
    if seeds == other_seeds:
        differences = means[0] - means[1]
        n = len(differences)
        seed_var, seed_df = (float(np.var(differences, ddof=1)) / n, n - 1) if n > 1 else (0.0, 0)
    else:
        parts = [float(np.var(m, ddof=1)) / len(m) if len(m) > 1 else 0.0 for m in means]
        seed_var, seed_df = _welch(parts, tuple(len(m) for m in means))
    half = _half_width(seed_var, seed_df, _image_var(tables, (1, -1)))
    middle = float(means[0].mean() - means[1].mean())
    return [middle - half, middle + half]


def ratio_interval(
    scores: np.ndarray, table: np.ndarray, base_scores: np.ndarray, base_table: np.ndarray
) -> list[float] | None:
    """95% interval of mean(`scores`) ÷ mean(`base_scores`), e.g. an arm over real-100%, on the log
    scale (where a ratio's error is about symmetric). Both arms' seeds are independent draws (their
    variances add, Welch), the same photos judge both (the image part is the spread of the per-draw
    log ratio, recentred). None when a mean is not positive."""
    means = float(np.mean(scores)), float(np.mean(base_scores))
    if min(means) <= 0:
        return None
    parts = [
        float(np.var(s, ddof=1)) / len(s) / m**2 if len(s) > 1 else 0.0
        for s, m in zip((scores, base_scores), means, strict=True)
    ]
    seed_var, seed_df = _welch(parts, (len(scores), len(base_scores)))
    per_draw = [recentred(t, s).mean(axis=0) for t, s in ((table, scores), (base_table, base_scores))]
    if min(float(d.min()) for d in per_draw) <= 0:
        return None
    log_ratio = np.log(per_draw[0]) - np.log(per_draw[1])
    half = _half_width(seed_var, seed_df, float(np.var(log_ratio, ddof=1)))
    centre = np.log(means[0] / means[1])
    return [float(np.exp(centre - half)), float(np.exp(centre + half))]
