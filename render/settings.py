"""Render settings as plain data (bpy-free), so configs and tests can build them without Blender."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

VIEW_TRANSFORMS = ("Standard", "AgX", "Filmic", "Raw", "Khronos PBR Neutral")
DEVICES = ("auto", "cpu", "gpu")


@dataclass
class RenderSettings:
    """How the beauty (RGB) image is rendered.

    The label passes (instance, depth, normal) ignore `samples`, `denoise` and `filter_width`:
    they come from a separate 1-sample, pixel-centre render so they are exact (see README).
    """

    samples: int = 32
    denoise: bool = True
    view_transform: str = "Standard"
    look: str = "None"
    exposure: float = 0.0
    device: str = "auto"  # 'auto' | 'cpu' | 'gpu'
    threads: int = 0  # 0 = let Blender pick (all cores)
    adaptive_threshold: float = 0.0  # 0 = adaptive sampling off
    max_bounces: int = 8
    filter_width: float = 1.5

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError early rather than letting bpy reject a value mid-render."""
        if int(self.samples) < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        # The upper bounds are Blender's own: past them it clamps silently, and the settings recorded
        # with the dataset would no longer be the ones it was rendered with.
        if not 0 <= int(self.threads) <= 1024:
            raise ValueError(f"threads must be in [0, 1024], got {self.threads}")
        if not 0.0 <= self.adaptive_threshold <= 1.0:
            raise ValueError(f"adaptive_threshold must be in [0, 1], got {self.adaptive_threshold}")
        if not 0 <= int(self.max_bounces) <= 1024:
            raise ValueError(f"max_bounces must be in [0, 1024], got {self.max_bounces}")
        if not -32.0 <= self.exposure <= 32.0:
            raise ValueError(f"exposure must be in [-32, 32] stops, got {self.exposure}")
        if not 0.01 <= self.filter_width <= 10.0:
            raise ValueError(f"filter_width must be in [0.01, 10], got {self.filter_width}")
        if not isinstance(self.view_transform, str) or not self.view_transform:
            raise ValueError(f"view_transform must be a non-empty string, got {self.view_transform!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
