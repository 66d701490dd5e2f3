"""Losses of the learned translators: LSGAN, PatchNCE, and the label-preserving edge and reading losses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from scenesmith.domain_adapt.reader import reading_loss
from scenesmith.domain_adapt.translate_data import luminance

if TYPE_CHECKING:
    from scenesmith.domain_adapt.translate import Training

# Edge maps are compared at 1/4 resolution: outlines of ≥ 20-px objects survive that, pixel noise
# and fine texture (what the translator is *meant* to change) average out of it.
EDGE_DOWNSAMPLE = 4
# Floor under an edge map's mean (in [-1, 1] image units): a flat crop of tray floor has almost no
# edges, and dividing by its near-zero mean would blow the remaining noise up into "edges".
EDGE_FLOOR = 0.02

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)


def lsgan(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (CycleGAN's choice): steadier gradients than the log loss."""
    return F.mse_loss(prediction, torch.full_like(prediction, 1.0 if real else 0.0))


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """Sobel magnitude of the low-passed luminance, ÷ its per-image mean (+ floor): contrast-free."""
    grey = luminance(images)
    grey = F.avg_pool2d(grey, EDGE_DOWNSAMPLE, ceil_mode=True)
    kx = _SOBEL_X.to(images.device, images.dtype)
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    magnitude = torch.sqrt(F.conv2d(padded, kx) ** 2 + F.conv2d(padded, kx.transpose(2, 3)) ** 2 + 1e-8)
    return magnitude / (magnitude.mean(dim=(1, 2, 3), keepdim=True) + EDGE_FLOOR)


def edge_loss(source: torch.Tensor, translated: torch.Tensor) -> torch.Tensor:
    """Label-preserving loss: the translation must keep the source's outlines where they are.

    Why it is needed: CycleGAN's cycle loss only asks that the input be *recoverable*, and CUT's
    PatchNCE only that patches stay recognisable; either generator can still move, drop or invent
    outlines (hide a die in the tray's texture, paint a real photo's tray border onto empty floor)
    and a discriminator rewards it when the photos show such things. The synthetic labels (masks,
    boxes) come from the rendered geometry, so shapes must stay exactly put. L1 between normalised
    edge maps penalises both lost edges and new ones, but not a global change of contrast or colour.
    """
    return F.l1_loss(edge_map(translated), edge_map(source))


def patch_nce(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """InfoNCE per patch (B×P×D unit vectors): each output patch must pick its own input patch.

    Positives sit on the diagonal of the P×P similarity matrix; the other patches of the same image
    are the negatives (CUT's default). Keys are detached, as in the reference implementation.
    """
    logits = torch.bmm(query, key.detach().transpose(1, 2)) / temperature
    target = torch.arange(query.shape[1], device=query.device).expand(query.shape[0], -1)
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def label_losses(
    t: Training, source: torch.Tensor, translated: torch.Tensor, masks: torch.Tensor | None
) -> dict:
    """The label-preserving terms of a translation: outlines kept (edge) and, when the synthetic
    masks are given, contents still read as labelled by the frozen reader (reading, `reader.py`)."""
    losses = {"edge": edge_loss(source, translated)}
    if masks is not None:
        losses["reading"] = reading_loss(t.nets.models["reader"], translated, masks)
    return losses


def weighted_label_loss(t: Training, losses: dict) -> torch.Tensor:
    """The label terms' share of the generator loss, by `edge_weight` and `reading_weight`."""
    total = t.options.edge_weight * losses["edge"]
    if "reading" in losses:
        total = total + t.options.reading_weight * losses["reading"]
    return total
