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
        if int(self.threads) < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if not self.adaptive_threshold >= 0.0:
            raise ValueError(f"adaptive_threshold must be >= 0, got {self.adaptive_threshold}")
        if int(self.max_bounces) < 0:
            raise ValueError(f"max_bounces must be >= 0, got {self.max_bounces}")
        if not 0.01 <= self.filter_width <= 10.0:
            raise ValueError(f"filter_width must be in [0.01, 10], got {self.filter_width}")
        if not isinstance(self.view_transform, str) or not self.view_transform:
            raise ValueError(f"view_transform must be a non-empty string, got {self.view_transform!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
