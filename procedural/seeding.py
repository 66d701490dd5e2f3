"""Seed derivation: image k of a dataset gets its own RNG streams from (dataset seed, k, stream name).

Named streams (Infinigen-style) keep draws independent: adding a new randomizer, or sampling one
more value in the camera, never shifts what the dice or the lights get. Image k is therefore the
same whether it is rendered alone, in a batch, or by another worker.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _stream_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def image_seed_sequence(dataset_seed: int, image_index: int) -> np.random.SeedSequence:
    if dataset_seed < 0 or image_index < 0:
        raise ValueError(f"seed and image index must be >= 0, got {dataset_seed}, {image_index}")
    return np.random.SeedSequence(entropy=dataset_seed, spawn_key=(image_index,))


def image_seed(dataset_seed: int, image_index: int) -> int:
    """A 31-bit integer seed for image k (used for the renderer's sampling pattern)."""
    return int(image_seed_sequence(dataset_seed, image_index).generate_state(1)[0] & 0x7FFFFFFF)


def stream_rng(dataset_seed: int, image_index: int, stream: str) -> np.random.Generator:
    """Independent generator for one named randomizer of image k."""
    seq = np.random.SeedSequence(entropy=dataset_seed, spawn_key=(image_index, _stream_key(stream)))
    return np.random.default_rng(seq)
