"""Read Blender's multilayer EXR into numpy (bpy-free).

Why OpenEXR: OpenCV cannot read multi-part EXR, and `Render Result` pixels are empty when bpy
runs in background mode, so the file is the only reliable path out of Cycles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR


def read_exr_channels(path: Path | str) -> dict[str, np.ndarray]:
    """All channels of every part, keyed by full channel name (e.g. 'ViewLayer.Depth.Z').

    Arrays are H×W float32 with row 0 = top of the image (EXR's natural line order, which is
    what Blender writes; verified in the tests with an asymmetric scene).
    """
    out: dict[str, np.ndarray] = {}
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for part in f.parts:
            for name, channel in part.channels.items():
                out[name] = np.asarray(channel.pixels, dtype=np.float32)
    return out


def stack(channels: dict[str, np.ndarray], prefix: str, suffixes: str) -> np.ndarray:
    """H×W×len(suffixes) array from channels `prefix + s` (e.g. 'ViewLayer.Normal.' + 'XYZ')."""
    missing = [prefix + s for s in suffixes if prefix + s not in channels]
    if missing:
        raise KeyError(f"EXR lacks channels {missing}; has {sorted(channels)}")
    return np.stack([channels[prefix + s] for s in suffixes], axis=-1)
