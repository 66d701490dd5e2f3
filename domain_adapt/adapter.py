"""The one contract every sim→real adapter keeps: an image in, an image of the same size out.

Why so narrow: an adapter may change appearance (colour, noise, texture, optics) but never geometry,
so the synthetic labels stay valid untouched. Training-free adapters (FDA, histogram matching, the
sensor model) and learned ones (CycleGAN, CUT) all fit behind this interface, and `adapt apply`, the
benchmark arms and the gap report never need to know which one they hold.

An adapter is saved as a folder: `adapter.json` (method, version, parameters, what it was fitted on)
plus any arrays or weights the method needs beside it. Images are RGB uint8 H×W×3 numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ADAPTER_FILE = "adapter.json"
REAL_SOURCE_FILE = "real_source.json"  # in an adapter folder: the real images it was fitted on


class Adapter(Protocol):
    """A fitted adapter. `apply` must return an array of the input's exact shape and dtype (uint8)."""

    method: str

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def save(self, folder: Path) -> None:
        """Write adapter.json (with at least `method`) and any side files into `folder`."""
        ...


@dataclass(frozen=True)
class FitInputs:
    """What a method may learn from: synthetic images (with their labels) and real *training* images
    (never their labels).

    The real paths come from the real COCO file's `train` split only (never test); `options` holds
    the method's own settings from the command line (e.g. steps, beta, crop size). `synthetic_masks`
    holds each synthetic image's semantic mask, or nothing for a set without them.
    """

    synthetic_images: tuple[Path, ...]
    real_images: tuple[Path, ...]
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    synthetic_masks: tuple[Path, ...] = ()


Fitter = Callable[[FitInputs, Path], Adapter]  # (inputs, output folder for checkpoints) → adapter
Loader = Callable[[Path], Adapter]  # adapter folder → adapter

_FITTERS: dict[str, Fitter] = {}
_LOADERS: dict[str, Loader] = {}


def register(method: str, fit: Fitter, load: Loader) -> None:
    """Called once by each method's module; `methods()` lists what `adapt train --method` accepts."""
    _FITTERS[method] = fit
    _LOADERS[method] = load


def methods() -> list[str]:
    _import_builtin_methods()
    return sorted(_FITTERS)


def fitter(method: str) -> Fitter:
    _import_builtin_methods()
    return _FITTERS[method]


def loader(method: str) -> Loader:
    _import_builtin_methods()
    return _LOADERS[method]


def _import_builtin_methods() -> None:
    """Import the built-in method modules (each calls `register`); learned ones import torch lazily."""
    from scenesmith.domain_adapt import methods as _  # noqa: F401
