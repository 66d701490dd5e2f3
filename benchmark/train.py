"""Train one benchmark arm until its validation score stops improving, resumably.

Why early stopping rather than a fixed step count: a from-scratch detector stopped at the same step
count is under-trained on 200 images and over-trained on 2, which would fake a gain for whichever arm
converges faster. Every arm gets the same evaluation interval, patience and step cap, and keeps the
checkpoint that scored best on its own validation split (real for arms that use real labels,
synthetic for the synthetic-only arm).

Why a cosine learning rate rather than "drop on plateau": a 40-image validation mAP is noisy, and on
dice a plateau rule fired on noise (real-100% dropped its rate at step 1800 and stalled at a training
loss the 10% arm passed at full rate). Cosine over the step cap needs no noisy decision; early stopping
still ends arms whose validation score stops improving.

Why no stopping before `min_steps`: on dice, reading the pips emerges suddenly, at a seed-dependent
step, after a flat stretch of validation mAP. With the old per-class heatmaps that step ranged from
1,800 to past 6,750; a patience rule counted from step 0 stopped one real-100% seed on the plateau at
step 2,000 (test mAP 0.11 vs 0.42 for the seed that got there). The class head (`model.py`) starts
reading pips by step ~2,000, but the guard stays: evaluations before `min_steps` still pick the best
checkpoint; they just cannot end the arm.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from scenesmith.annotate.atomic import atomic_save, atomic_write_json
from scenesmith.benchmark.augment import AugmentConfig, augmented_crop
from scenesmith.benchmark.config import TrainConfig, read_run_record
from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.evaluate import Detections, evaluate
from scenesmith.benchmark.model import CenterNet, decode, detection_loss, encode_targets
from scenesmith.benchmark.tta import outputs_for
from scenesmith.errors import UserError

log = logging.getLogger(__name__)


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return batch / 255.0 - 0.5


# Offset of the anneal's random streams from the run's seed (numpy: spawned as [seed, this]).
ANNEAL_STREAM = 1_000_003


def replay_count(config: TrainConfig, share: float) -> int:
    """Images of each batch drawn from the replay set: the share of the batch, rounded, at least one."""
    return 0 if share <= 0 else min(config.batch - 1, max(1, round(share * config.batch)))


def _training_batch(
    dataset: DetectionSet,
    config: TrainConfig,
    rng: np.random.Generator,
    replay: DetectionSet | None = None,
    replayed: int = 0,
    replay_augment: AugmentConfig | None = None,
) -> tuple:
    """One augmented batch: `batch - replayed` images of `dataset`, then `replayed` of `replay`.

    Replayed images take `replay_augment` (default: `config.augment`). Without replay the draws are
    exactly those of runs trained before replay existed (resumable).
    """
    chosen = [dataset.samples[i] for i in rng.integers(len(dataset.samples), size=config.batch - replayed)]
    augments = [config.augment] * len(chosen)
    if replay is not None and replayed:
        chosen += [replay.samples[i] for i in rng.integers(len(replay.samples), size=replayed)]
        augments += [replay_augment or config.augment] * replayed
    images, targets = [], []
    for sample, augment in zip(chosen, augments, strict=True):
        image, boxes, labels = augmented_crop(sample, augment, rng)
        images.append(image)
        targets.append(encode_targets(boxes, labels, image.shape[:2], len(dataset.class_names)))
    stacked = {key: torch.from_numpy(np.stack([t[key] for t in targets])) for key in targets[0]}
    return _to_tensor(images), stacked


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to zero at the step cap."""
    warmup = min(1.0, (step + 1) / config.warmup_steps)
    return config.learning_rate * warmup * 0.5 * (1.0 + math.cos(math.pi * step / config.max_steps))


def anneal_learning_rate(anneal: dict, done: int, config: TrainConfig) -> float:
    """The anneal's rate after `done` of its steps: linear from its start rate to zero at its end."""
    return anneal["start_learning_rate"] * (1.0 - done / config.anneal_steps)


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU (torch's own thread count; OMP_NUM_THREADS sets it)."""
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


@torch.no_grad()
def whole_image_outputs(model: CenterNet, image: np.ndarray, tta: str = "none") -> dict[str, torch.Tensor]:
    """The model's maps (on the CPU) for one whole image, padded to a multiple of 16 (which `tta`'s turns
    need); `tta` as in `tta.outputs_for`. The caller sets eval mode."""
    height, width = image.shape[:2]
    padded = np.zeros((-(-height // 16) * 16, -(-width // 16) * 16, 3), np.uint8)
    padded[:height, :width] = image
    device = next(model.parameters()).device
    return {k: v.cpu() for k, v in outputs_for(model, _to_tensor([padded]).to(device), tta).items()}


def clip_boxes(boxes: np.ndarray, image: np.ndarray) -> None:
    """Clip xyxy boxes, in place, to the image (the padding is not part of it)."""
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, image.shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, image.shape[0])


@torch.no_grad()
def predict(model: CenterNet, dataset: DetectionSet, tta: str = "none") -> Detections:
    """Whole-image inference (padded to a multiple of 16), boxes clipped to the image; `tta` as in
    `tta.outputs_for`."""
    model.eval()
    boxes, scores, labels = {}, {}, {}
    for sample in dataset.samples:
        found_boxes, found_scores, found_labels = decode(whole_image_outputs(model, sample.image, tta))[0]
        clip_boxes(found_boxes, sample.image)
        keep = found_scores > 0.01
        boxes[sample.image_id], scores[sample.image_id] = found_boxes[keep], found_scores[keep]
        labels[sample.image_id] = found_labels[keep]
    model.train()
    return Detections(boxes, scores, labels)


def _tensorboard(run_dir: Path):
    """Optional live curves: a SummaryWriter when tensorboard is installed, else None (no hard dependency)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def load_weights(model: CenterNet, path: Path) -> None:
    """Initialise from a checkpoint; layers whose shape differs stay fresh.

    With another scene's classes that is the class output layer alone (the class head's hidden layer is
    copied), and only when the class counts differ: classes are matched by index, never by name.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    model.load_state_dict(
        {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}, strict=False
    )


def train_arm(
    train_set: DetectionSet,
    val_set: DetectionSet,
    config: TrainConfig,
    seed: int,
    run_dir: Path,
    init_weights: Path | None = None,
    label: str = "train",
    device: torch.device | None = None,
    replay: DetectionSet | None = None,
    replay_share: float = 0.0,
    ema_decay: float = 0.0,
    replay_augment: AugmentConfig | None = None,
) -> dict:
    """Train (or resume, or return the finished result of) one arm; best weights go to run_dir/best.pt.

    With `replay` (same classes as `train_set`), `replay_share` of every batch comes from it: a fine-tune
    keeps seeing its pretraining's images, so a handful of real photos cannot overwrite what it learned.
    Replayed images are augmented with `replay_augment` (default: `config.augment`), as in the pretraining.
    With `ema_decay` > 0, validation scores and the saved weights are those of an exponential moving
    average of the weights, not the last step's: a fine-tune on 16 photos wanders from evaluation to
    evaluation, and picking the luckiest wander on a 40-image validation split overstates it.
    With `config.anneal_steps`, the search (until patience or the cap) is followed by an anneal (see
    `_start_anneal`); a run finished before that setting, or lent by a folder without it, is annealed here.
    """
    if replay is not None and replay.class_names != train_set.class_names:
        raise ValueError(f"replay classes {replay.class_names} differ from {train_set.class_names}")
    replayed = replay_count(config, replay_share) if replay is not None else 0
    result_path = run_dir / "result.json"
    finished = read_result(result_path) if result_path.exists() else None
    if finished is not None and not _unannealed(finished, config):
        return finished
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = CenterNet(len(train_set.class_names), config.width)
    if init_weights is not None:
        load_weights(model, init_weights)
    device = device or pick_device()
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), config.learning_rate, weight_decay=config.weight_decay)
    average = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        if ema_decay
        else None
    )
    scored = average.module if average is not None else model  # the weights evaluated and saved
    rng = np.random.default_rng(seed)
    progress = {
        "step": 0,
        "best_score": -1.0,
        "best_step": 0,
        "bad_evals": 0,
        "seconds": 0.0,
        "curve": [],
        "searched": False,
        "anneal": None,
        "threads": [],  # torch's CPU thread counts this run trained with (results depend on them)
    }
    state_path = run_dir / "state.pt"
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if average is not None:
            average.load_state_dict(state["average"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        progress = {**progress, **state["progress"]}  # states from before the anneal lack its keys
    elif finished is not None:  # searched before annealing existed here: only the anneal is left
        progress.update(
            step=finished["steps"],
            best_score=finished["best_val_map"],
            best_step=finished["best_step"],
            seconds=finished["train_seconds"],
            curve=finished["curve"],
            searched=True,
        )
    progress["threads"] = sorted({*progress.get("threads", []), torch.get_num_threads()})
    if len(progress["threads"]) > 1:  # summed in another order: not bit-identical to one uninterrupted run
        log.warning(
            "%s: trained with %s torch threads across its sessions; the result can differ slightly from "
            "an uninterrupted run (resume with the same --threads)",
            label, " and ".join(map(str, progress["threads"])),
        )  # fmt: skip
    losses: list[float] = []
    board = _tensorboard(run_dir)
    started = time.perf_counter() - progress["seconds"]
    bar = tqdm(
        total=config.max_steps + config.anneal_steps,
        initial=progress["step"],
        desc=label,
        unit="step",
        leave=False,
    )
    model.train()

    def train_step(lr: float) -> None:
        for group in optimizer.param_groups:
            group["lr"] = lr
        images, targets = _training_batch(train_set, config, rng, replay, replayed, replay_augment)
        targets = {key: value.to(device) for key, value in targets.items()}
        loss = detection_loss(model(images.to(device)), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        if average is not None:
            average.update_parameters(model)
        losses.append(float(loss.detach()))
        progress["step"] += 1
        bar.update(1)

    def validate_and_checkpoint() -> None:
        scores = evaluate(val_set, predict(scored, val_set))
        progress["seconds"] = time.perf_counter() - started
        progress["curve"].append(
            {
                "step": progress["step"],
                "loss": float(np.mean(losses)),
                "val_map": scores["map"],
                "val_die_map50": scores["die_map50"],
                "seconds": progress["seconds"],
            }
        )
        losses.clear()
        if board is not None:
            for key in ("loss", "val_map", "val_die_map50"):
                board.add_scalar(key, progress["curve"][-1][key], progress["step"])
        if scores["map"] > progress["best_score"]:
            progress.update(best_score=scores["map"], best_step=progress["step"], bad_evals=0)
            atomic_save(run_dir / "best.pt", lambda p: torch.save(scored.state_dict(), p))
        elif progress["step"] > config.min_steps:
            progress["bad_evals"] += 1
        bar.set_postfix(val_map=f"{scores['map']:.3f}", best=f"{progress['best_score']:.3f}")
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "average": average.state_dict() if average is not None else None,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "progress": progress,
        }
        atomic_save(state_path, lambda p, s=state: torch.save(s, p))

    while not progress["searched"]:
        if progress["step"] >= config.max_steps or progress["bad_evals"] >= config.patience:
            progress["searched"] = True
            break
        train_step(learning_rate(config, progress["step"]))
        if progress["step"] % config.eval_every == 0 or progress["step"] == config.max_steps:
            validate_and_checkpoint()
    if config.anneal_steps:
        if progress["anneal"] is None:
            optimizer = _start_anneal(run_dir, model, average, config, seed, progress)
            rng = np.random.default_rng([seed, ANNEAL_STREAM])
        anneal = progress["anneal"]
        while (done := progress["step"] - anneal["from_step"]) < config.anneal_steps:
            train_step(anneal_learning_rate(anneal, done, config))
            if (done + 1) % config.eval_every == 0 or done + 1 == config.anneal_steps:
                validate_and_checkpoint()
    bar.close()
    if board is not None:
        board.close()
    result = {
        "steps": progress["step"],
        "best_step": progress["best_step"],
        "best_val_map": progress["best_score"],
        "train_seconds": progress["seconds"],
        "curve": progress["curve"],
        "config": asdict(config),
        "replay_images_per_batch": replayed,
        "replay_augment": asdict(replay_augment) if replay_augment is not None else None,
        "ema_decay": ema_decay,
        "torch_threads": progress["threads"],
    }
    if progress["anneal"] is not None:
        result["anneal"] = progress["anneal"]
    atomic_write_json(result_path, result)
    state_path.unlink(missing_ok=True)
    return result


def anneal_pending(run_dir: Path, config: TrainConfig) -> bool:
    """Whether `train_arm` would anneal a run that already finished (lent, or from before the setting)."""
    result_path = run_dir / "result.json"
    return result_path.exists() and _unannealed(read_result(result_path), config)


# What a finished run's result.json must hold: the report and the fine-tunes read these.
RESULT_KEYS = ("steps", "best_step", "best_val_map", "train_seconds", "curve", "config")


def read_result(path: Path) -> dict:
    """A finished run's record (see `read_run_record`): a damaged one is named, not a KeyError in the
    report."""
    return read_run_record(
        path,
        RESULT_KEYS,
        "delete that run's folder to train it again, or restore it from its archive "
        "(`scenesmith archive ... --restore`)",
    )


def _unannealed(finished: dict, config: TrainConfig) -> bool:
    """Whether a finished run's result still lacks the anneal that `config` asks for."""
    return bool(config.anneal_steps) and "anneal" not in finished


def _start_anneal(
    run_dir: Path,
    model: CenterNet,
    average: AveragedModel | None,
    config: TrainConfig,
    seed: int,
    progress: dict,
) -> torch.optim.Optimizer:
    """Begin the anneal: the best weights, a fresh optimizer, the rate at the best step falling to zero.

    Why: runs stop by patience wherever validation stalls, so most stop with the cosine rate far from
    zero (on dice under a 12,000-step cap, fine-tunes stopped at 47–69% of their peak) and never get the
    low-rate steps that settle the weights. Why from the best weights with a fresh optimizer and its own
    random stream: the anneal is then a function of the search's result alone, the same whether the
    search ran in this call or finished in another folder before annealing existed.
    Returns the fresh optimizer; records the anneal's start in `progress`.
    """
    best = run_dir / "best.pt"
    if not best.is_file():
        raise UserError(
            f"{run_dir}: finished without an anneal, and its weights are not there to anneal (an archive "
            "keeps none); train it again, or run without --anneal-steps"
        )
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    if average is not None:
        average.n_averaged.zero_()  # its next update copies the best weights: the average starts there
    torch.manual_seed(seed + ANNEAL_STREAM)
    progress["anneal"] = {
        "from_step": progress["step"],
        "start_learning_rate": learning_rate(config, progress["best_step"]),
        "best_val_map_before": progress["best_score"],
        "best_step_before": progress["best_step"],
    }
    return torch.optim.AdamW(model.parameters(), config.learning_rate, weight_decay=config.weight_decay)


def load_best(run_dir: Path, num_classes: int, config: TrainConfig, device: torch.device) -> CenterNet:
    model = CenterNet(num_classes, config.width)
    model.load_state_dict(torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True))
    return model.to(device).eval()
