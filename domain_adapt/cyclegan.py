"""`cyclegan`: unpaired synth→real translation with cycle consistency (networks in `cyclegan_train.py`).

Registered without importing torch: `adapt train --method` lists the methods every time the CLI
starts, and torch takes seconds to import; it is loaded only when a model is fitted or loaded.
"""

from __future__ import annotations

from pathlib import Path

from scenesmith.domain_adapt.adapter import Adapter, FitInputs, register

METHOD = "cyclegan"


def fit(inputs: FitInputs, out: Path) -> Adapter:
    from scenesmith.domain_adapt import cyclegan_train
    from scenesmith.domain_adapt.translate import fit_translator

    return fit_translator(METHOD, inputs, out, cyclegan_train.build, cyclegan_train.step)


def load(folder: Path) -> Adapter:
    from scenesmith.domain_adapt.translator import load_translator

    return load_translator(folder)


register(METHOD, fit, load)
