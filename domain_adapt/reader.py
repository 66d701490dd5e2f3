"""The fixed reader behind the reading loss: a small per-pixel classifier of the renders' labels.

Why: the edge loss keeps outlines in place, but a translator can keep a die's outline and still
rewrite what is inside it. CUT on the dice renders (30,000 CPU steps) painted over or moved about a
quarter of the pips: a detector read 96.7% of the rendered dice right before and 72.5% after
(`benchmark/results/dice_cut_adapt.md`), and a die whose pips changed carries a wrong class label.
CyCADA's semantic consistency (Hoffman et al. 2018) is the remedy followed here: a classifier trained
on the renders' semantic masks is frozen, and each translation must still read as its labels say.

Why the reader trains under heavy colour, blur and noise jitter: the translator is meant to change
exactly those; a reader that knows only the renders' look would fight every change of appearance,
not only the changes of content. Why dilated convolutions at half resolution: a die is ≈ 30–40 px
and its pips 3–6 px, so the reader needs a ≈ 60-px field that still resolves small detail.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from scenesmith.domain_adapt.translate_data import Crops, luminance

_BLUR = (torch.tensor([1.0, 2.0, 1.0]).outer(torch.tensor([1.0, 2.0, 1.0])) / 16).view(1, 1, 3, 3)
ACCURACY_WINDOW = 100  # training steps the reported object-pixel accuracy averages over
READER_BATCH = 8  # crops per reader step (the translators' own batch is 1, too noisy for a classifier)


def _block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation)
    return [conv, nn.GroupNorm(8, c_out), nn.ReLU(True)]


class Reader(nn.Module):
    """Per-pixel class logits (background = 0, then the label ids) at the input's resolution."""

    def __init__(self, classes: int, width: int = 32) -> None:
        super().__init__()
        self.classes = classes
        self.body = nn.Sequential(
            *_block(3, width),
            *_block(width, width, stride=2),
            *_block(width, width, dilation=2),
            *_block(width, width, dilation=4),
            *_block(width, width, dilation=8),
            nn.Conv2d(width, classes, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.body(images), size=images.shape[-2:], mode="bilinear", align_corners=False)


def balanced_cross_entropy(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with object and background pixels weighing half each (whichever are present).

    Why balanced: dice cover < 1% of a render, so a plain mean would let the reader (and the
    translator it judges) ignore them; background still counts, so no die may appear on empty floor.
    """
    per_pixel = F.cross_entropy(logits, masks, reduction="none")
    objects = masks > 0
    parts = [per_pixel[region].mean() for region in (objects, ~objects) if region.any()]
    return sum(parts) / len(parts)


def jitter(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random colour mixing, greyscale, gain and offset, blur and noise of B×3×H×W images in [-1, 1]."""
    b = len(images)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return (low + (high - low) * torch.rand(b, *shape, generator=generator)).to(images.device)

    mixing = torch.eye(3) + 0.25 * torch.randn(b, 3, 3, generator=generator)
    out = torch.einsum("bij,bjhw->bihw", mixing.to(images.device), images)
    grey = luminance(out)
    greyscale = (uniform(0, 1, 1, 1, 1) < 0.2).float()
    out = greyscale * grey + (1 - greyscale) * out
    out = uniform(0.6, 1.4, 1, 1, 1) * out + uniform(-0.3, 0.3, 1, 1, 1)
    blurred = F.conv2d(
        F.pad(out, (1, 1, 1, 1), mode="replicate"), _BLUR.to(images.device).expand(3, 1, 3, 3), groups=3
    )
    blur = (uniform(0, 1, 1, 1, 1) < 0.3).float()
    out = blur * blurred + (1 - blur) * out
    noise = torch.randn(out.shape, generator=generator).to(images.device)
    return (out + uniform(0.0, 0.08, 1, 1, 1) * noise).clamp(-1, 1)


def train_reader(
    reader: Reader,
    draw: Callable[[], Crops],
    steps: int,
    torch_rng: torch.Generator,
    learning_rate: float = 1e-3,
) -> dict:
    """Fit `reader` to labelled crops from `draw` (Adam, cosine-decayed rate), then freeze it; returns
    what it reached.

    `object_pixel_accuracy` is the share of object pixels given their own class, averaged over the
    last `ACCURACY_WINDOW` (jittered, training) batches: a reader that cannot tell the classes apart
    on renders cannot tell the translator anything either.
    """
    optimiser = torch.optim.Adam(reader.parameters(), lr=learning_rate)
    reader.train()
    correct: list[float] = []
    for step in tqdm(range(steps), desc="reader", unit="step", leave=False):
        optimiser.param_groups[0]["lr"] = learning_rate * 0.5 * (1 + math.cos(math.pi * step / steps))
        crops = draw()
        logits = reader(jitter(crops.images, torch_rng))
        loss = balanced_cross_entropy(logits, crops.masks)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        objects = crops.masks > 0
        if objects.any():
            correct.append((logits.argmax(1)[objects] == crops.masks[objects]).float().mean().item())
    reader.eval().requires_grad_(False)
    recent = correct[-ACCURACY_WINDOW:]
    return {"steps": steps, "object_pixel_accuracy": round(float(np.mean(recent)), 4) if recent else None}


def reading_loss(reader: Reader, translated: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """How far the frozen reader is from reading the translation as its labels: the reading loss."""
    return balanced_cross_entropy(reader(translated), masks)
