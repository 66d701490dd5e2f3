"""The fixed, versioned feature encoder behind the gap report's KID.

Why our own encoder: KID is normally computed on Inception features, but no pretrained network can
be downloaded here, and features that change from run to run would make gap numbers incomparable.
So this small CNN is trained once, self-supervised (SimCLR-style: two random views of an image must
map close together, away from other images), on procedurally drawn pictures — gradients, shapes,
lines, blotches and noise at random scales — from a fixed seed. It depends on no dataset it will
ever be asked to compare. The trained weights ship in `assets/` and are checked by SHA-256 at load;
any change to the architecture or the recipe is a new ENCODER_VERSION with a new file.
Regenerate with `python scripts/train_gap_encoder.py` (a few minutes on a CPU).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ENCODER_VERSION = 1
ENCODER_FILE = f"gap_encoder_v{ENCODER_VERSION}.pt"
ENCODER_SHA256 = "5744c0cd2a5f58ee4ab1fa1e464c617ccb97dd38f799d18c50b8ca0cd727610d"
FEATURE_SIZE = 128
INPUT_SIZE = 96


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for out in (24, 48, 96, FEATURE_SIZE):
            layers += [nn.Conv2d(channels, out, 3, 2, 1), nn.GroupNorm(8, out), nn.ReLU(inplace=True),
                       nn.Conv2d(out, out, 3, 1, 1), nn.GroupNorm(8, out), nn.ReLU(inplace=True)]  # fmt: skip
            channels = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def procedural_image(rng: np.random.Generator, size: int = INPUT_SIZE) -> np.ndarray:
    """A random picture: a colour gradient, a few shapes and lines, blotchy texture, blur and noise."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.clip(xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1) + rng.uniform(0, 1), 0, 1)[..., None]
    image = (c0 * (1 - t) + c1 * t).astype(np.float32)
    for _ in range(rng.integers(0, 8)):
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(image, centre, int(rng.integers(2, size // 3)), colour, -1, cv2.LINE_AA)
        elif kind == 1:
            half = rng.integers(2, size // 3, 2)
            box = cv2.boxPoints((centre, (float(half[0] * 2), float(half[1] * 2)), float(rng.uniform(0, 90))))
            cv2.fillConvexPoly(image, box.astype(np.int32), colour, cv2.LINE_AA)
        else:
            end = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.line(image, centre, end, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    scale = int(rng.integers(2, 16))
    blotches = cv2.resize(
        rng.normal(0, rng.uniform(0, 30), (scale, scale, 3)).astype(np.float32), (size, size)
    )
    image += blotches
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 2.0)))
    image += rng.normal(0, rng.uniform(0, 12), image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def random_view(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SimCLR augmentation: resized crop, flip, brightness/contrast jitter."""
    size = image.shape[0]
    side = int(size * np.sqrt(rng.uniform(0.3, 1.0)))
    y, x = rng.integers(0, size - side + 1, 2)
    view = cv2.resize(image[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        view = view[:, ::-1]
    view = view.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    return np.clip(view, 0, 255).astype(np.uint8)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def train_encoder(seed: int = 0, steps: int = 1500, batch: int = 64) -> dict[str, torch.Tensor]:
    """SimCLR (NT-Xent, τ = 0.2) on procedural pictures; returns the encoder's state_dict."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    encoder = Encoder()
    head = nn.Sequential(nn.Linear(FEATURE_SIZE, FEATURE_SIZE), nn.ReLU(), nn.Linear(FEATURE_SIZE, 64))
    optimiser = torch.optim.Adam([*encoder.parameters(), *head.parameters()], 1e-3)
    for _ in range(steps):
        pictures = [procedural_image(rng) for _ in range(batch)]
        views = np.stack([random_view(p, rng) for p in pictures] + [random_view(p, rng) for p in pictures])
        z = F.normalize(head(encoder(to_tensor(views))), dim=1)
        similarity = z @ z.T / 0.2
        similarity.fill_diagonal_(float("-inf"))
        targets = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])
        loss = F.cross_entropy(similarity, targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return encoder.state_dict()


def default_weights() -> Path:
    return Path(str(resources.files("scenesmith.assets") / ENCODER_FILE))


def load_encoder(path: Path | None = None, expected_sha256: str = ENCODER_SHA256) -> Encoder:
    """The shipped encoder, refusing a file whose hash is not the versioned one."""
    path = path or default_weights()
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise ValueError(
            f"{path}: SHA-256 {digest[:12]}… is not encoder v{ENCODER_VERSION}'s; file corrupted?"
        )
    encoder = Encoder()
    encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return encoder.eval()


@torch.no_grad()
def encode(encoder: Encoder, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """N×FEATURE_SIZE features of uint8 RGB images (resized to the encoder's input size)."""
    resized = np.stack(
        [cv2.resize(im, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for im in images]
    )
    return np.concatenate(
        [encoder(to_tensor(resized[i : i + batch])).numpy() for i in range(0, len(resized), batch)]
    )
