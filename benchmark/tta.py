"""Test-time augmentation: average the detector's maps over the eight turns and flips of an image.

Why: a die's class is its pip count, which no quarter turn or mirror changes, and the detector already
trains on all eight (`augment._turn_and_flip`). Its reading of a real photo still depends on which way
the photo is turned: a class head that has seen 16 photos, or only renders, is unsure between faces
whose pips look alike (four/five/six), and each orientation makes different mistakes. Averaging the
eight views' probabilities cancels part of that noise. Measured on the real validation split (never
test), from the same checkpoints: +1 to +8 mAP points per run, most for the arms that read least well
(see benchmark/results/dice_iterations.md).

What is averaged, after turning each view's maps back: the centre heatmap and the class probabilities
(as probabilities), and the box size (width and height swap on a quarter turn). The sub-cell centre
offset comes from the unturned view alone, as in CenterNet's own flip test: it is only trained at the
centre cell, and under a flip it changes meaning (x → 1 − x within the cell). The stride-4 grid maps
onto itself under turns and flips only when the padded image is a whole number of cells, which
`predict` ensures (it pads to a multiple of 16).
"""

from __future__ import annotations

import torch
from torch import nn

from scenesmith.benchmark.augment import TEST_TIME_AUGMENTATIONS


def _turned_back(maps: torch.Tensor, quarter_turns: int, flipped: bool) -> torch.Tensor:
    """Undo `rot90(quarter_turns)` then `flip(width)` on NCHW maps."""
    if flipped:
        maps = maps.flip(3)
    return torch.rot90(maps, -quarter_turns, (2, 3))


@torch.no_grad()
def dihedral_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The model's outputs for NCHW `images`, averaged over the 8 turns and flips (decode-ready logits)."""
    plain = model(images)
    heat, probabilities, size = [], [], []
    for quarter_turns in range(4):
        for flipped in (False, True):
            view = torch.rot90(images, quarter_turns, (2, 3))
            view = view.flip(3) if flipped else view
            outputs = plain if quarter_turns == 0 and not flipped else model(view)
            heat.append(_turned_back(outputs["heatmap"].sigmoid(), quarter_turns, flipped))
            probabilities.append(_turned_back(outputs["classes"].softmax(dim=1), quarter_turns, flipped))
            turned_size = _turned_back(outputs["size"], quarter_turns, flipped)
            size.append(turned_size.flip(1) if quarter_turns % 2 else turned_size)
    mean_heat = torch.stack(heat).mean(0).clamp(1e-6, 1 - 1e-6)
    return {
        "heatmap": torch.logit(mean_heat),
        "classes": torch.stack(probabilities).mean(0).clamp_min(1e-8).log(),
        "size": torch.stack(size).mean(0),
        "offset": plain["offset"],
    }


def outputs_for(model: nn.Module, images: torch.Tensor, tta: str) -> dict[str, torch.Tensor]:
    """The maps `decode` reads, with the test-time augmentation named by `tta`."""
    if tta == "none":
        return model(images)
    if tta == "dihedral":
        return dihedral_outputs(model, images)
    raise ValueError(f"tta must be one of {TEST_TIME_AUGMENTATIONS}, not {tta!r}")
