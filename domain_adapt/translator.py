"""A trained synth→real generator behind the Adapter contract: apply, save, load.

`apply` works at the training `scale` (resize, translate, resize back to the exact input size) and
runs the generator in overlapping tiles (`tiling.py`), so memory stays bounded for any image size.
It is deterministic: eval mode, no random draws (`rng` is unused), the same tiles every time.

Saved as `adapter.json` (method, version, options, steps reached, a loss summary), `generator.pt`
(the generator's state_dict only, loaded with weights_only) and `losses.json` (the full loss log).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch

from scenesmith.annotate.atomic import atomic_save, atomic_write_json
from scenesmith.domain_adapt.adapter import ADAPTER_FILE
from scenesmith.domain_adapt.networks import ResnetGenerator
from scenesmith.domain_adapt.tiling import tiled
from scenesmith.domain_adapt.translate_data import resize, to_image, to_tensor
from scenesmith.domain_adapt.translate_options import TranslatorOptions
from scenesmith.errors import UserError

GENERATOR = "generator.pt"
LOSS_LOG = "losses.json"
VERSION = 1
OVERLAP = 32


class TranslatorAdapter:
    def __init__(
        self,
        method: str,
        generator: ResnetGenerator,
        options: TranslatorOptions,
        steps: int,
        log: list[dict],
        reader: dict | None = None,
    ) -> None:
        self.method = method
        self.generator = generator.eval()
        self.options = options
        self.steps = steps
        self.log = log
        self.reader = reader  # what the reading loss's reader reached (None: no reading loss)

    @torch.no_grad()
    def _translate_tile(self, tile: np.ndarray) -> np.ndarray:
        device = next(self.generator.parameters()).device
        return to_image(self.generator(to_tensor(tile[None]).to(device)))[0]

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}")
        working = resize(image, self.options.scale)
        translated = tiled(working, self._translate_tile, tile=self.options.tile, overlap=OVERLAP)
        out = np.clip(np.rint(translated), 0, 255).astype(np.uint8)
        if out.shape != image.shape:
            out = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_CUBIC)
        return out

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.cpu() for k, v in self.generator.state_dict().items()}
        atomic_save(folder / GENERATOR, lambda path: torch.save(state, path))
        atomic_write_json(folder / LOSS_LOG, self.log)
        record = {
            "method": self.method,
            "version": VERSION,
            "options": asdict(self.options),
            "steps": self.steps,
            "losses": loss_summary(self.log),
            **({"reader": self.reader} if self.reader else {}),
        }
        atomic_write_json(folder / ADAPTER_FILE, record)


def loss_summary(log: list[dict], window: int = 10) -> dict:
    """Mean of each loss over the first and the last `window` logged steps: the trend at a glance."""
    if not log:
        return {}

    def mean(entries: list[dict]) -> dict:
        keys = [k for k in entries[0] if k != "step"]
        return {k: round(float(np.mean([e[k] for e in entries])), 5) for k in keys}

    return {"logged": len(log), "first": mean(log[:window]), "last": mean(log[-window:])}


def load_translator(folder: Path) -> TranslatorAdapter:
    record = json.loads((folder / ADAPTER_FILE).read_text())
    if record.get("version") != VERSION:
        raise UserError(
            f"{folder / ADAPTER_FILE}: version {record.get('version')!r}, this scenesmith reads {VERSION}"
        )
    options = TranslatorOptions(**record["options"])
    generator = ResnetGenerator(options.ngf, options.blocks)
    generator.load_state_dict(torch.load(folder / GENERATOR, map_location="cpu", weights_only=True))
    if torch.cuda.is_available():
        generator.cuda()
    log = json.loads((folder / LOSS_LOG).read_text()) if (folder / LOSS_LOG).exists() else []
    return TranslatorAdapter(record["method"], generator, options, record["steps"], log, record.get("reader"))
