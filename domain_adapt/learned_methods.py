"""`cyclegan` and `cut`: the learned synth→real translators (networks in `cyclegan_train.py`, `cut_train.py`).

Registered without importing torch: `adapt train --method` lists the methods every time the CLI
starts, and torch takes seconds to import; a method's networks are loaded only when a model is fitted
or loaded.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from scenesmith.domain_adapt.adapter import Adapter, FitInputs, register


def _register_translator(method: str, networks_module: str) -> None:
    """Register `method`, whose `build` and `step` live in `scenesmith.domain_adapt.<networks_module>`."""

    def fit(inputs: FitInputs, out: Path) -> Adapter:
        from scenesmith.domain_adapt.translate import fit_translator

        networks = importlib.import_module(f"scenesmith.domain_adapt.{networks_module}")
        return fit_translator(method, inputs, out, networks.build, networks.step)

    def load(folder: Path) -> Adapter:
        from scenesmith.domain_adapt.translator import load_translator

        return load_translator(folder)

    register(method, fit, load)


_register_translator("cyclegan", "cyclegan_train")  # unpaired translation with cycle consistency
_register_translator("cut", "cut_train")  # one-sided, contrastive (CUT)
