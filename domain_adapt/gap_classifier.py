"""Classifier two-sample test: train a small CNN from scratch to tell set A from set B.

Why this test: it answers the question a detector implicitly asks — can a network see which domain
an image comes from? — without any pretrained features (none can be downloaded here). Every image is
scored by a model that never trained on it (k-fold), so the held-out AUC is honest: 0.5 means the
sets are indistinguishable to this network, 1.0 means perfectly separable. The confidence interval
is a stratified bootstrap over images. The sets are balanced by subsampling the larger one, so
the AUC is not driven by class priors.

One classifier's AUC also depends on its draw (which images balance the sets, the folds, the
initialisation, the batches): near 0.5 two runs on the same sets can differ by more than the bootstrap
interval's width. Repeating the whole test with independent seeds measures that spread, and the
interval pools every repeat's bootstrap draws so that it holds both.

Object crops come several to an image and share its light, tint and camera: for them every crop of
one image is held out together (folds by image) and the bootstrap resamples whole images, or a
classifier that learnt one photo's tint would score that photo's other crops and the interval would
count 8 crops of one photo as 8 independent witnesses.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum (Mann–Whitney) identity; ties count half."""
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_aucs(
    scores: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 1000,
    clusters: np.ndarray | None = None,
) -> np.ndarray:
    """The AUC of `resamples` bootstrap draws, resampling each class's images with replacement; with
    `clusters` (the image each item comes from), whole images with all their items."""
    if clusters is None:
        pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        values = []
        for _ in range(resamples):
            idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
            values.append(auc(scores[idx], labels[idx]))
    else:
        members = [
            [
                np.flatnonzero((labels == label) & (clusters == c))
                for c in np.unique(clusters[labels == label])
            ]
            for label in (1, 0)
        ]
        values = []
        for _ in range(resamples):
            idx = np.concatenate(
                [
                    members_of[i]
                    for members_of in members
                    for i in rng.integers(0, len(members_of), len(members_of))
                ]
            )
            values.append(auc(scores[idx], labels[idx]))
    return np.asarray(values)


def domain_classifier(width: int = 16) -> nn.Module:
    """Four stride-2 conv blocks with GroupNorm, global pooling, one logit (60,929 parameters)."""
    layers: list[nn.Module] = []
    channels = 3
    for out in (width, width * 2, width * 4, width * 4):
        layers += [nn.Conv2d(channels, out, 3, 2, 1), nn.GroupNorm(4, out), nn.ReLU(inplace=True)]
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 1))


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _augment(batch: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random crop to `size` and horizontal flip: the classifier must not key on exact pixels."""
    out = np.empty((len(batch), size, size, 3), np.uint8)
    limit = batch.shape[1] - size
    for i, image in enumerate(batch):
        y, x = rng.integers(0, limit + 1, size=2)
        crop = image[y : y + size, x : x + size]
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def _centre(batch: np.ndarray, size: int) -> np.ndarray:
    offset = (batch.shape[1] - size) // 2
    return batch[:, offset : offset + size, offset : offset + size]


def _folds_by_group(groups: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold per item such that the items of one group share it."""
    unique = np.unique(groups)
    return (rng.permutation(len(unique)) % folds)[np.searchsorted(unique, groups)]


def held_out_scores(
    a: np.ndarray,
    b: np.ndarray,
    steps: int,
    folds: int,
    seed: int,
    batch: int = 32,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(scores, labels, clusters): every item of the balanced sets scored by the fold model that held
    it out. With `groups` (per set, the image each item comes from) one image's items share a fold,
    and `clusters` names each scored item's image (unique across the two sets) for the bootstrap."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    pick_a, pick_b = rng.choice(len(a), n, replace=False), rng.choice(len(b), n, replace=False)
    images = np.concatenate([a[pick_a], b[pick_b]])
    labels = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    clusters = None
    if groups is None:
        fold_of = np.concatenate([rng.permutation(n) % folds, rng.permutation(n) % folds])
    else:
        group_a, group_b = np.asarray(groups[0])[pick_a], np.asarray(groups[1])[pick_b]
        fold_of = np.concatenate([_folds_by_group(group_a, folds, rng), _folds_by_group(group_b, folds, rng)])
        clusters = np.concatenate([group_a, group_b + int(group_a.max(initial=0)) + 1])
    size = images.shape[1] * 7 // 8
    scores = np.zeros(len(images))
    for fold in range(folds):
        train, test = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        torch.manual_seed(seed * 100 + fold)
        model = domain_classifier()
        optimiser = torch.optim.Adam(model.parameters(), 1e-3)
        loss_fn = nn.BCEWithLogitsLoss()
        model.train()
        for _ in range(steps):
            pick = rng.choice(train, min(batch, len(train)), replace=False)
            logits = model(_tensor(_augment(images[pick], size, rng))).squeeze(1)
            loss = loss_fn(logits, torch.from_numpy(labels[pick]).float())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            scores[test] = (
                model(_tensor(np.ascontiguousarray(_centre(images[test], size)))).squeeze(1).numpy()
            )
    return scores, labels, clusters


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The seed of each repeat: the first is `seed` itself (one repeat is the plain test), the others
    independent streams spawned from it."""
    return [seed, *(int(s) for s in np.random.SeedSequence(seed).generate_state(repeats - 1))]


def two_sample_test(
    a: np.ndarray,
    b: np.ndarray,
    steps: int,
    folds: int,
    seed: int,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
    repeats: int = 1,
) -> dict:
    """Held-out AUC of A-vs-B with its 95% interval (0.5 = indistinguishable); `groups` as in
    `held_out_scores`, for items that come several to an image.

    With `repeats` > 1 the test runs that many times with independent seeds; the AUC is their mean and
    the interval the percentiles of every repeat's bootstrap draws pooled, so it covers the spread
    between classifiers as well as the choice of images. It is an interval for one classifier's AUC,
    and so wider than one for the mean of the repeats.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: at least 1")
    aucs, draws = [], []
    for repeat_seed in repeat_seeds(seed, repeats):
        scores, labels, clusters = held_out_scores(a, b, steps, folds, repeat_seed, groups=groups)
        aucs.append(auc(scores, labels))
        rng = np.random.default_rng(repeat_seed + 1)
        draws.append(bootstrap_aucs(scores, labels, rng, clusters=clusters))
    low, high = np.percentile(np.concatenate(draws), [2.5, 97.5])
    result = {"auc": float(np.mean(aucs)), "ci95": [float(low), float(high)],
              "ci95_over": "held-out images" + (" and classifier repeats" if repeats > 1 else ""),
              "images_per_set": int(len(labels) // 2), "steps": steps, "folds": folds,
              "repeats": repeats}  # fmt: skip
    if repeats > 1:
        result["auc_by_repeat"] = [float(value) for value in aucs]
    return result | ({"folds_and_bootstrap_by": "source image"} if groups is not None else {})
