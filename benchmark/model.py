"""A small CenterNet-style detector that trains from scratch on two CPU cores.

Why this design: no pretrained weights can be downloaded, the objects are small (a die is ≈40 px in a
640 px photo and its pips are 4–6 px), and every benchmark arm must train to convergence in minutes.
A light residual backbone with GroupNorm (batch statistics are useless at batch 8) down to stride 16,
a top-down feature pyramid back to stride 4, and CenterNet-style heads (centre heatmap, class, box
size, centre offset) give dense small-object supervision with no anchors to tune and a decode that is
one max-pool.

Why one class-agnostic centre heatmap plus a softmax class head, rather than CenterNet's heatmap per
class: with per-class heatmaps, finding dice was learnt at once but reading the pips emerged late
and by lottery. Real-100% stayed at validation mAP 0.11 for 6,750 steps on one seed, and got
0.30 vs 0.51 on two seeds with the same data. Where a die is is shared by all classes; which face
is up is a 6-way choice, which cross-entropy at the die's centre cells trains directly instead of
through six focal losses dominated by background. Measured on real-100% validation (same seeds,
data and schedule): see benchmark/results/dice_iterations.md.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scenesmith.benchmark.data import IGNORED_REGION

STRIDE = 4
# Recorded in a benchmark run folder: checkpoints of another head cannot resume or mix with this one.
ARCHITECTURE = "centernet-objectness-softmax"
# Cells whose centre Gaussian is at least this strong carry their die's class in the class loss.
CLASS_CELL_STRENGTH = 0.5
# The label of an object whose class is unknown (a pseudo-label the teacher could not read): it trains
# the centre heatmap, size and offset, and its cells are left out of the class loss.
UNKNOWN_CLASS = -1


def _conv_gn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.GroupNorm(max(1, cout // 8), cout),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_gn(channels, channels),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.GroupNorm(max(1, channels // 8), channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class CenterNet(nn.Module):
    """Outputs at stride 4: centre heatmap logits, class logits, box size and sub-cell centre offset."""

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()
        c4, c8, c16 = width, width * 2, width * 3
        self.num_classes = num_classes
        self.stem = nn.Sequential(_conv_gn(3, 24, 2), _conv_gn(24, c4, 2), _Residual(c4))
        self.down8 = nn.Sequential(_conv_gn(c4, c8, 2), _Residual(c8), _Residual(c8))
        self.down16 = nn.Sequential(_conv_gn(c8, c16, 2), _Residual(c16), _Residual(c16))
        self.lateral8 = nn.Conv2d(c8, c16, 1)
        self.smooth8 = _conv_gn(c16, c8)
        self.lateral4 = nn.Conv2d(c4, c8, 1)
        self.smooth4 = _conv_gn(c8, c4)
        self.heatmap = nn.Sequential(_conv_gn(c4, c4), nn.Conv2d(c4, 1, 1))
        self.classes = nn.Sequential(_conv_gn(c4, c4), nn.Conv2d(c4, num_classes, 1))
        self.size = nn.Sequential(_conv_gn(c4, c4), nn.Conv2d(c4, 2, 1))
        self.offset = nn.Sequential(_conv_gn(c4, c4), nn.Conv2d(c4, 2, 1))
        # Focal-loss prior: start every cell at p≈0.1 so the first steps are not swamped by negatives.
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - 0.1) / 0.1))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        f4 = self.stem(images)
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        p8 = self.smooth8(self.lateral8(f8) + F.interpolate(f16, size=f8.shape[-2:], mode="nearest"))
        p4 = self.smooth4(self.lateral4(f4) + F.interpolate(p8, size=f4.shape[-2:], mode="nearest"))
        return {
            "heatmap": self.heatmap(p4),
            "classes": self.classes(p4),
            "size": self.size(p4),
            "offset": self.offset(p4),
        }


def _gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius: the largest centre shift that keeps IoU ≥ min_overlap with the true box."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def encode_targets(
    boxes: np.ndarray, labels: np.ndarray, image_size: tuple[int, int], num_classes: int
) -> dict[str, np.ndarray]:
    """Dense training targets for one image: boxes are xyxy pixels, labels are 0-based class indices.

    `classes` holds, per cell, the class of the object whose centre Gaussian is strongest there when
    that strength is at least CLASS_CELL_STRENGTH, and -1 (ignored) elsewhere; cells an UNKNOWN_CLASS
    object dominates are ignored too. `ignore` marks the cells of IGNORED_REGION boxes: no centre is
    placed there, and predicting one there costs nothing.
    """
    out_h, out_w = image_size[0] // STRIDE, image_size[1] // STRIDE
    ignore = np.zeros((out_h, out_w), np.float32)
    heatmap = np.zeros((1, out_h, out_w), np.float32)
    classes = np.full((out_h, out_w), -1, np.int64)
    size = np.zeros((2, out_h, out_w), np.float32)
    offset = np.zeros((2, out_h, out_w), np.float32)
    mask = np.zeros((out_h, out_w), np.float32)
    ys, xs = np.mgrid[0:out_h, 0:out_w]
    for (x0, y0, x1, y1), label in zip(boxes, labels, strict=True):
        if label == IGNORED_REGION:
            left, top = int(x0 // STRIDE), int(y0 // STRIDE)
            ignore[top : math.ceil(y1 / STRIDE), left : math.ceil(x1 / STRIDE)] = 1.0
            continue
        if not (0 <= label < num_classes or label == UNKNOWN_CLASS):
            raise ValueError(f"label {label} outside 0..{num_classes - 1} (or {UNKNOWN_CLASS}: unknown)")
        w, h = (x1 - x0) / STRIDE, (y1 - y0) / STRIDE
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        ix, iy = min(int(cx), out_w - 1), min(int(cy), out_h - 1)
        sigma = (2 * max(0.0, _gaussian_radius(h, w)) + 1) / 6
        gaussian = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma**2))
        classes[(gaussian > heatmap[0]) & (gaussian >= CLASS_CELL_STRENGTH)] = label
        np.maximum(heatmap[0], gaussian, out=heatmap[0])
        size[:, iy, ix] = (w, h)
        offset[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
    return {
        "heatmap": heatmap,
        "classes": classes,
        "size": size,
        "offset": offset,
        "mask": mask,
        "ignore": ignore,
    }


def detection_loss(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Penalty-reduced focal loss on the centre heatmap (none for background cells of ignored regions),
    cross-entropy on the class of the cells near each centre, and L1 on size and offset at object
    centres."""
    pred = outputs["heatmap"].sigmoid().clamp(1e-4, 1 - 1e-4)
    gt = targets["heatmap"]
    positive = gt.eq(1).float()
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * positive
    counted = 1 - targets["ignore"].unsqueeze(1)
    neg_loss = torch.log(1 - pred) * pred**2 * (1 - gt) ** 4 * (1 - positive) * counted
    num_pos = positive.sum().clamp(min=1.0)
    focal = -(pos_loss.sum() + neg_loss.sum()) / num_pos
    mask = targets["mask"].unsqueeze(1)
    size = (F.l1_loss(outputs["size"] * mask, targets["size"] * mask, reduction="sum")) / num_pos
    offset = (F.l1_loss(outputs["offset"] * mask, targets["offset"] * mask, reduction="sum")) / num_pos
    labelled = targets["classes"].ge(0).sum().clamp(min=1)
    classes = F.cross_entropy(outputs["classes"], targets["classes"], ignore_index=-1, reduction="sum")
    return focal + classes / labelled + 0.1 * size + offset


def _boxes_at(outputs: dict[str, torch.Tensor], b: int, iy: torch.Tensor, ix: torch.Tensor) -> np.ndarray:
    """Boxes (xyxy, input pixels) of the objects centred at cells (iy, ix) of image `b`."""
    off = outputs["offset"][b, :, iy, ix]
    wh = outputs["size"][b, :, iy, ix].clamp(min=0)
    cx, cy = (ix + off[0]) * STRIDE, (iy + off[1]) * STRIDE
    w, h = wh[0] * STRIDE, wh[1] * STRIDE
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1).numpy()


def _peaks(outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Centre probabilities at the local maxima of a 3×3 max-pool, zero elsewhere (N1HW)."""
    heat = outputs["heatmap"].sigmoid()
    return heat * (F.max_pool2d(heat, 3, 1, 1) == heat)


@torch.no_grad()
def decode(
    outputs: dict[str, torch.Tensor], max_detections: int = 100
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: (boxes xyxy in input pixels, scores, 0-based labels).

    Centres are the peaks of a 3×3 max-pool; each peak yields one detection per class scored
    centre × class probability, so a die whose face is uncertain is still found under its likelier
    classes (the class-agnostic "die" score merges them).
    """
    probabilities = outputs["classes"].softmax(dim=1)
    batch, classes, height, width = probabilities.shape
    candidates = (_peaks(outputs) * probabilities).reshape(batch, -1)
    scores, flat = candidates.topk(min(max_detections, classes * height * width))
    results = []
    for b in range(batch):
        label = flat[b] // (height * width)
        cell = flat[b] % (height * width)
        results.append((_boxes_at(outputs, b, cell // width, cell % width), scores[b].numpy(), label.numpy()))
    return results


@torch.no_grad()
def decode_objects(
    outputs: dict[str, torch.Tensor], min_centre: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: (boxes xyxy, centre probabilities, class probabilities N×C) of every centre peak of at
    least `min_centre`: one entry per object, with where it is and what it is kept apart (`decode`
    scores their product), for a teacher that trusts the one more than the other."""
    probabilities = outputs["classes"].softmax(dim=1)
    peaks = _peaks(outputs)[:, 0]
    results = []
    for b in range(peaks.shape[0]):
        iy, ix = torch.nonzero(peaks[b] >= min_centre, as_tuple=True)
        results.append(
            (_boxes_at(outputs, b, iy, ix), peaks[b, iy, ix].numpy(), probabilities[b, :, iy, ix].T.numpy())
        )
    return results
