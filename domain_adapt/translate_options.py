"""Settings of the learned translators (`--option KEY=VALUE`), checked before any image is read.

Defaults are slim so a CPU can train them: a 16-wide generator with 6 residual blocks (CycleGAN's
choice for 128-px crops), a 32-wide 70-px PatchGAN, batch 1, crops of 128 px at native resolution
(`scale` 1). Native resolution is deliberate: the photos' sensor noise, JPEG blocks and blur only
exist at their own pixel scale, and a resampled photo would teach the generator a smoothed version.
On the dice photos (640², dice ≈ 40 px) a 128-px crop holds a die or two with tray around it, so the
discriminator's 70-px field sees a whole die. `scale` resizes both domains alike (and the renders
again at apply), so it trades resolution for context; it does not bring photos much larger than the
renders to the renders' pixel scale: resize such photos first.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from scenesmith.errors import UserError


@dataclass(frozen=True)
class TranslatorOptions:
    steps: int = 2000
    crop: int = 128
    scale: float = 1.0  # images are resized by this once, when loaded; `apply` works at the same scale
    batch: int = 1
    ngf: int = 16
    ndf: int = 32
    blocks: int = 6
    learning_rate: float = 2e-4  # constant for the first half of `steps`, then linearly to 0
    cycle_weight: float = 10.0  # CycleGAN only; the identity loss gets half of it
    nce_weight: float = 1.0  # CUT only
    nce_patches: int = 256  # CUT only: patches sampled per encoder layer
    edge_weight: float = 1.0
    # Weight of the reading loss (`reader.py`): a frozen classifier of the renders' semantic masks must
    # still read each translation as its labels. 0 (off) by default: it needs a labelled synthetic set.
    reading_weight: float = 0.0
    reader_steps: int = 5000  # training steps of that reader, before the translator's first step
    checkpoint_every: int = 100
    log_every: int = 10
    max_images: int = 200  # per domain, chosen at random by the seed, held in memory
    tile: int = 256  # `apply`: tile side (overlap 32)

    def fingerprint(self) -> dict:
        """The settings a checkpoint must agree on to be resumed (bookkeeping ones may change; the
        reader's only count when reading is on, so checkpoints from before it existed still resume)."""
        unused = {"checkpoint_every", "log_every"} | (
            set() if self.reading_weight else {"reading_weight", "reader_steps"}
        )
        return {k: v for k, v in asdict(self).items() if k not in unused}


ONLY_FOR = {"cycle_weight": "cyclegan", "nce_weight": "cut", "nce_patches": "cut"}
_POSITIVE = ("steps", "crop", "scale", "batch", "ngf", "ndf", "blocks", "nce_patches", "checkpoint_every",
             "log_every", "max_images", "tile", "reader_steps")  # fmt: skip


def parse_options(method: str, options: dict) -> TranslatorOptions:
    """Options from the command line (ints, floats or strings) → checked TranslatorOptions."""
    types = {f.name: f.type for f in fields(TranslatorOptions)}
    values = {}
    for key, value in options.items():
        if key not in types:
            raise UserError(f"--option {key}: not a {method} setting; expected one of {sorted(types)}")
        if ONLY_FOR.get(key, method) != method:
            raise UserError(f"--option {key}: only used by {ONLY_FOR[key]}, not by {method}")
        values[key] = _coerce(key, value, types[key])
    chosen = TranslatorOptions(**values)
    for key in _POSITIVE:
        if getattr(chosen, key) <= 0:
            raise UserError(f"--option {key}={getattr(chosen, key)}: expected a positive number")
    for key in ("crop", "tile"):
        if getattr(chosen, key) % 4 or getattr(chosen, key) < 32:
            raise UserError(f"--option {key}={getattr(chosen, key)}: expected a multiple of 4, at least 32")
    for key in ("edge_weight", "cycle_weight", "nce_weight", "learning_rate", "reading_weight"):
        if getattr(chosen, key) < 0:
            raise UserError(f"--option {key}={getattr(chosen, key)}: expected a number ≥ 0")
    return chosen


def _coerce(key: str, value: object, kind: str) -> int | float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"--option {key}={value!r}: expected a number") from None
    if not math.isfinite(number):
        raise UserError(f"--option {key}={value!r}: expected a finite number")
    if kind == "int":
        if not number.is_integer():
            raise UserError(f"--option {key}={value!r}: expected a whole number")
        return int(number)
    return number
