"""The training loop shared by the learned translators (CycleGAN, CUT): resumable and reproducible.

Why shared: the two methods differ only in their networks and generator loss (`cyclegan_train.py`,
`cut_train.py` hold those). Everything else is the same — unpaired random crops held in memory, Adam with
a constant rate for the first half of `steps` and a linear decay to 0 over the second (the CycleGAN
schedule), a loss log, checkpoints and resuming.

Resumable: every `checkpoint_every` steps (and at the end) the networks, optimisers, image pools,
random-generator states and the loss log go into `checkpoint.pt`, written atomically, and the log into
`losses.json`. Fitting again into the same folder continues from there; since every random draw comes
from those saved generators, the resumed run ends with the same weights as an uninterrupted one
(exactly on the CPU; CUDA kernels are not all deterministic). All randomness is seeded by
`FitInputs.seed`, and the caller's global torch generator is left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scenesmith.annotate.atomic import atomic_save, atomic_write_json
from scenesmith.domain_adapt.adapter import FitInputs
from scenesmith.domain_adapt.reader import READER_BATCH, Reader, train_reader
from scenesmith.domain_adapt.translate_data import CropSampler, ImagePool
from scenesmith.domain_adapt.translate_options import TranslatorOptions, parse_options
from scenesmith.domain_adapt.translator import TranslatorAdapter
from scenesmith.errors import UserError

CHECKPOINT = "checkpoint.pt"
LOSSES = "losses.json"


@dataclass
class Networks:
    """What a method builds: `models` must hold the synth→real "generator"; the rest is its own."""

    models: dict[str, torch.nn.Module]
    optimisers: dict[str, torch.optim.Optimizer]
    pools: dict[str, ImagePool] = field(default_factory=dict)


@dataclass
class Training:
    """Everything a step needs; all of it but `options` goes into a checkpoint."""

    options: TranslatorOptions
    nets: Networks
    rng: np.random.Generator  # crops, flips, image pool
    torch_rng: torch.Generator  # torch-side draws (CUT's patch sampling, the reader's jitter)
    step: int = 0
    log: list[dict] = field(default_factory=list)
    reader: dict | None = None  # what the reader reached (`reader.train_reader`), once it is trained


Build = Callable[[TranslatorOptions], Networks]
# (training, synthetic crops, real crops, the synthetic crops' masks or None) → named losses
StepFn = Callable[[Training, torch.Tensor, torch.Tensor, torch.Tensor | None], dict[str, torch.Tensor]]


def resolve_device(name: str) -> torch.device:
    """The training device: "auto" picks CUDA when present, else the CPU; "cuda" insists on it."""
    if name not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device {name!r}: expected auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here (use auto or cpu)")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")


def learning_rate(options: TranslatorOptions, step: int) -> float:
    half = options.steps // 2
    if step < half:
        return options.learning_rate
    return options.learning_rate * max(0.0, 1.0 - (step - half) / max(1, options.steps - half))


def fit_translator(
    method: str, inputs: FitInputs, out: Path, build: Build, step_fn: StepFn
) -> TranslatorAdapter:
    """Train, or resume training in `out`, and return the adapter holding the synth→real generator."""
    options = parse_options(method, inputs.options)
    device = resolve_device(inputs.device)
    rng = np.random.default_rng(inputs.seed)
    reading = options.reading_weight > 0
    if reading and len(inputs.synthetic_masks) != len(inputs.synthetic_images):
        raise UserError(
            f"--option reading_weight={options.reading_weight}: needs a semantic mask for every synthetic "
            f"image (a scenesmith dataset folder with masks/*_semantic.png); got "
            f"{len(inputs.synthetic_masks)} masks for {len(inputs.synthetic_images)} images"
        )
    synthetic = CropSampler(
        "synthetic",
        inputs.synthetic_images,
        options.crop,
        options.scale,
        options.max_images,
        rng,
        masks=inputs.synthetic_masks if reading else (),
    )
    real = CropSampler("real", inputs.real_images, options.crop, options.scale, options.max_images, rng)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(inputs.seed)
        nets = build(options)
        if reading:
            nets.models["reader"] = Reader(synthetic.classes())
    for model in nets.models.values():
        model.to(device).train()
    training = Training(options, nets, rng, torch.Generator().manual_seed(inputs.seed))
    out.mkdir(parents=True, exist_ok=True)
    identity = {"method": method, "options": options.fingerprint(), "inputs": _inputs_digest(inputs, reading)}
    if (out / CHECKPOINT).exists():
        _resume(training, out / CHECKPOINT, identity, device)
    if reading:
        _ready_reader(training, synthetic, device, lambda: _save(training, out, identity))
    with tqdm(total=options.steps, initial=training.step, desc=method, unit="step") as bar:
        while training.step < options.steps:
            for optimiser in nets.optimisers.values():
                for group in optimiser.param_groups:
                    group["lr"] = learning_rate(options, training.step)
            crops = synthetic.batch(options.batch, rng).to(device)
            losses = step_fn(
                training, crops.images, real.batch(options.batch, rng).images.to(device), crops.masks
            )
            training.step += 1
            bar.update(1)
            last = training.step == options.steps
            if training.step % options.log_every == 0 or last:
                values = {k: round(v.item(), 5) for k, v in losses.items()}
                training.log.append({"step": training.step, **values})
                bar.set_postfix(values)
            if training.step % options.checkpoint_every == 0 or last:
                _save(training, out, identity)
    generator = nets.models["generator"].eval()
    return TranslatorAdapter(method, generator, options, training.step, training.log, training.reader)


def _ready_reader(
    training: Training, synthetic: CropSampler, device: torch.device, checkpoint: Callable[[], None]
) -> None:
    """Train the reading loss's reader once, before the translator's first step, and checkpoint it
    (a resumed fit finds it trained); then freeze it: the translator must satisfy the reader, never
    the other way round."""
    reader = training.nets.models["reader"]
    if training.reader is None:
        training.reader = train_reader(
            reader,
            lambda: synthetic.batch(READER_BATCH, training.rng, around_objects=True).to(device),
            training.options.reader_steps,
            training.torch_rng,
        )
        checkpoint()
    reader.eval().requires_grad_(False)


def _inputs_digest(inputs: FitInputs, with_masks: bool) -> str:
    """Seed and image files (name and size, in order): a resume must draw from the same images (and
    masks, when the reading loss uses them)."""
    digest = hashlib.sha256(f"seed={inputs.seed}".encode())
    domains = [("synthetic", inputs.synthetic_images), ("real", inputs.real_images)]
    for domain, paths in domains + ([("masks", inputs.synthetic_masks)] if with_masks else []):
        digest.update(domain.encode())
        for path in paths:
            digest.update(f"{Path(path).name}:{Path(path).stat().st_size};".encode())
    return digest.hexdigest()


def _save(training: Training, out: Path, identity: dict) -> None:
    nets = training.nets
    state = {
        **identity,
        "step": training.step,
        "log": training.log,
        "models": {k: m.state_dict() for k, m in nets.models.items()},
        "optimisers": {k: o.state_dict() for k, o in nets.optimisers.items()},
        "pools": {k: p.images for k, p in nets.pools.items()},
        "rng": training.rng.bit_generator.state,
        "torch_rng": training.torch_rng.get_state(),
        "reader": training.reader,
    }
    atomic_save(out / CHECKPOINT, lambda path: torch.save(state, path))
    atomic_write_json(out / LOSSES, training.log)


def _resume(training: Training, checkpoint: Path, identity: dict, device: torch.device) -> None:
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    for key, expected in identity.items():
        if state.get(key) != expected:
            raise UserError(
                f"{checkpoint}: was trained with another {key} ({state.get(key)!r}, now {expected!r}); "
                "rerun with the same settings to resume, or use a new output folder"
            )
    nets = training.nets
    for name, model in nets.models.items():
        model.load_state_dict(state["models"][name])
    for name, optimiser in nets.optimisers.items():
        optimiser.load_state_dict(state["optimisers"][name])
    for name, pool in nets.pools.items():
        pool.images = list(state["pools"][name])
    training.rng.bit_generator.state = state["rng"]
    training.torch_rng.set_state(state["torch_rng"])
    training.step, training.log, training.reader = state["step"], state["log"], state.get("reader")
