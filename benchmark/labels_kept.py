"""Does an adapter keep what the labels say? A fixed reader reads the renders before and after it.

Why, next to `scenesmith adapt check`'s label alignment: that check asks whether each instance outline
still has an image edge under it, and an image-to-image translator can keep every outline while it
rewrites the detail that defines the class. On dice it did: a CUT translator trained 30,000 steps on
the CPU kept 95% of the outlines and turned about a quarter of the dice into other faces (pips
smeared, added or erased). A detector trained on the plain renders reads each die of both sets; the
share it reads the same way is a label check that needs no real image. A drop also counts a look the
reader never learned, so it says where to look (crops), not by itself how many labels are wrong.
It lives here, not in `domain_adapt`, because the reader is this package's detector.
"""

from __future__ import annotations

import numpy as np

from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.model import CenterNet
from scenesmith.benchmark.reading import read_classes
from scenesmith.benchmark.train import predict


def reading_kept(
    original: DetectionSet, adapted: dict[str, DetectionSet], reader: CenterNet
) -> dict[str, dict]:
    """How `reader` reads the objects of each adapted set against the same objects of `original`
    (which it reads once, however many adapters there are).

    Every adapted set must hold the original's images and labels (an adapter changes pixels only).
    Returns, per adapted set: the number of objects, how many the reader finds in both sets, the share
    of those it reads as the same class in both, and the share it reads right in each.
    """
    identity = [(s.image_id, s.labels.tolist()) for s in original.samples]
    for name, dataset in adapted.items():
        if [(s.image_id, s.labels.tolist()) for s in dataset.samples] != identity:
            raise ValueError(f"adapted set {name!r} must hold the same images and labels as the original set")
    before = np.concatenate(read_classes(original, predict(reader, original)))
    truth = np.concatenate([s.labels.astype(int) for s in original.samples])
    missed = len(original.class_names)
    kept = {}
    for name, dataset in adapted.items():
        after = np.concatenate(read_classes(dataset, predict(reader, dataset)))
        found = (before != missed) & (after != missed)

        def share(hits: np.ndarray, found: np.ndarray = found) -> float | None:
            return float(hits[found].mean()) if found.any() else None

        kept[name] = {
            "objects": len(truth),
            "found_in_both": int(found.sum()),
            "read_the_same": share(before == after),
            "read_right_original": share(before == truth),
            "read_right_adapted": share(after == truth),
        }
    return kept
