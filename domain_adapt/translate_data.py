"""Training data of the learned translators: images held in memory, random crops, the image pool.

Why in memory: a step needs one crop per domain; decoding a 640² JPEG per crop would cost more
than the step itself on a CPU. 200 images of 640² per domain are ≈ 250 MB.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from scenesmith.errors import UserError


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """B×H×W×3 uint8 (or float 0–255) → B×3×H×W float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """B×3×H×W in [-1, 1] → B×H×W×3 float 0–255 (left unrounded so tiles blend before rounding)."""
    return ((tensor.detach().cpu().clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    """Area-average when shrinking (no aliasing), cubic when enlarging; scale 1 returns the image."""
    if scale == 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def load_rgb(path: Path, scale: float) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"{path}: not a readable image")
    return resize(np.ascontiguousarray(bgr[..., ::-1]), scale)


class CropSampler:
    """Random crops (and horizontal flips) of up to `limit` images of one domain, held in memory."""

    def __init__(
        self,
        domain: str,
        paths: tuple[Path, ...],
        crop: int,
        scale: float,
        limit: int,
        rng: np.random.Generator,
    ) -> None:
        if not paths:
            raise UserError(f"no {domain} images to learn from")
        chosen = sorted(rng.choice(len(paths), min(limit, len(paths)), replace=False))
        self.images = [load_rgb(paths[i], scale) for i in chosen]
        self.crop = crop
        for index, image in zip(chosen, self.images, strict=True):
            if min(image.shape[:2]) < crop:
                raise UserError(
                    f"{paths[index]}: {image.shape[1]}×{image.shape[0]} px at scale {scale} is smaller "
                    f"than the crop; pass a smaller --option crop=N (or a larger scale)"
                )

    def batch(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        crops = []
        for index in rng.integers(len(self.images), size=size):
            image = self.images[index]
            y = rng.integers(image.shape[0] - self.crop + 1)
            x = rng.integers(image.shape[1] - self.crop + 1)
            crop = image[y : y + self.crop, x : x + self.crop]
            crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
        return to_tensor(np.stack(crops))


class ImagePool:
    """CycleGAN's buffer of 50 past fakes: the discriminator also sees older generator outputs, which
    stops the two networks from chasing each other in circles (Shrivastava et al. 2017)."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif rng.random() < 0.5:
                slot = int(rng.integers(self.size))
                out.append(self.images[slot])
                self.images[slot] = image
            else:
                out.append(image)
        return torch.stack(out)
