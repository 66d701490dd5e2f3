"""Settings of a benchmark run: what the runner and the trainer take, with the defaults of both.

Why a module of its own, free of torch: the CLI shows these defaults in `scenesmith benchmark --help` and
must not load torch to build its parser. One definition keeps the command line and the library from
disagreeing (they were written twice before, and nothing checked the library's copy).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from scenesmith.annotate.box_convention import BoxConvention
from scenesmith.benchmark.augment import AugmentConfig
from scenesmith.errors import UserError


@dataclass(frozen=True)
class TrainConfig:
    width: int = 24
    batch: int = 8
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    eval_every: int = 250
    patience: int = 6
    max_steps: int = 12000
    min_steps: int = 3000
    # Steps of a final anneal after the search stops (0: none): from the best checkpoint, the rate at its
    # step falling linearly to zero (train._start_anneal). The same for every arm.
    anneal_steps: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True, kw_only=True)
class BenchmarkConfig:
    out: Path
    real: Path | None = None
    scene: str = "dice_tray"
    # On dice, 240 renders transferred no better than 120, under a 6000- or a 12,000-step cap.
    synthetic: int = 120
    real_train: Path | None = None
    real_test: Path | None = None
    synthetic_seed: int = 7
    resolution: tuple[int, int] = (640, 640)
    samples: int = 8
    synthetic_overrides: tuple[str, ...] = ()
    control_scene: str | None = "conveyor_parts"
    seeds: int = 3
    sweep: bool = False
    val_count: int = 40
    split_seed: int = 0
    fraction: float = 0.10
    arms: tuple[str, ...] = ()
    device: str = "auto"
    adapters: tuple[Path, ...] = ()
    # How synthetic boxes are drawn for training (real labels are what they are): see box_convention.
    synthetic_boxes: BoxConvention = BoxConvention()
    # An earlier run folder whose finished real-only runs are copied instead of retrained (see reuse.py).
    real_arms_from: Path | None = None
    # An earlier run folder whose finished pretrainings are copied (only fine-tune settings may differ).
    pretrainings_from: Path | None = None
    # Learning rate of the fine-tunes (arms that start from a pretraining); None: the pretraining's.
    # Why separate: 16 real photos at the pretraining's rate overwrite the pretraining within a few
    # hundred steps; a quarter of the default rate keeps it (benchmark/results/dice_iterations.md).
    finetune_learning_rate: float | None = 0.0005
    # Share of each fine-tune batch drawn from its pretraining's synthetic train set (0: real images only).
    # Why: replaying the synthetic set keeps what the pretraining learned while the real photos adapt it
    # (on dice, with the lower rate: real validation +2.6 points, every seed, and half the seeds' spread).
    # Control fine-tunes never replay: their pretraining set labels another scene's classes.
    finetune_synthetic_share: float = 0.5
    # Decay of an exponential moving average of the fine-tunes' weights, scored and saved in their place
    # (0: none). Why: on 16 photos the fine-tune's real val score wanders ±0.05 between evaluations.
    finetune_ema: float = 0.0
    # Add the self-training arm (`pseudo_labels.py`): synthetic → the headline fraction plus the pool's
    # other photos, unlabelled, labelled by that fine-tune. Off by default: it uses photos the other
    # arms leave out, so it answers another question (what unlabelled photos add), beside the headline.
    self_train: bool = False
    # Its pseudo-labels: objects whose centre probability is at least `pseudo_min_centre`, read as
    # their class when its probability is at least `pseudo_min_class` (else only "a die is here").
    # Chosen on the real validation photos (synthetic → 10% seed 1 labelling them): centre 0.5 keeps
    # 99.3% of the dice at 98.9% precision (synthetic-only's centres need it too: 0.3 lets 20% false
    # dice in); class 0.8 reads 69% of them, 98% right (0.7: 77%, 97% right; none: 85% right).
    pseudo_min_centre: float = 0.5
    pseudo_min_class: float = 0.8
    # Named change to the augmentation of the self-training student's photos, labelled and pseudo-labelled
    # (`augment.AUGMENT_PRESETS`). Why a setting: Noisy Student (Xie et al. 2020) noises the student, not
    # the teacher, so that it must generalise past the labels it is given instead of copying them.
    student_augment: str = "standard"
    # Where the student starts: "pretraining" (synthetic-only, as its teacher did) or "teacher" (its
    # teacher's weights, so that the pseudo-labelled photos refine what the teacher knows, not relearn it).
    student_init: str = "pretraining"
    # Named change to the augmentation of rendered images (pretrainings and the images a fine-tune
    # replays; `augment.AUGMENT_PRESETS`). Real photos keep `train.augment`. Why `strong` by default:
    # on dice it lifted synthetic-only by 6.3 real-validation mAP points (3 of 3 seeds) and cost the
    # fine-tunes nothing; the renders' own look is easy to learn, and varying it uses no real image.
    synthetic_augment: str = "strong"
    # Test-time augmentation of the scores on real photos (`augment.TEST_TIME_AUGMENTATIONS`). Not part of
    # the fingerprint: it changes no training, and a run's cached scores record the one they were made
    # with (`scoring.cached_score` redoes them from the checkpoint when it differs).
    tta: str = "dihedral"
    # Box calibration of the real-photo scores: "validation" rescales the boxes of
    # every run that has labelled real photos by one factor fitted on the real validation photos
    # (`box_calibration.py`). Like `tta`, a scoring setting outside the fingerprint.
    box_calibration: str = "none"
    # Rebuild the report from the runs already finished in `out`, training nothing. Why: a sweep takes
    # hours, and its partial results should be readable without waiting or starting the rest.
    report_only: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def adapter_tags(self) -> dict[str, Path]:
        """Adapter folder name → folder; the name is the arms' tag (adapted_<tag>_only, ...)."""
        tags = {Path(a).name: Path(a) for a in self.adapters}
        if len(tags) != len(self.adapters):
            raise UserError("--adapter folders must have distinct names (the name tags their arms)")
        return tags


def default_of(config_class: type, name: str) -> Any:
    """The default of one field of a settings dataclass (its factory's value where it has one)."""
    found = {f.name: f for f in fields(config_class)}[name]
    return found.default_factory() if found.default is MISSING else found.default


def read_run_record(path: Path, keys: tuple[str, ...], advice: str) -> dict[str, Any]:
    """A JSON object a run folder keeps (`config.json`, a run's `result.json`) holding `keys`: a damaged
    one (cut short by a full disk, edited by hand) is named with `advice`, not a JSONDecodeError or a
    KeyError further on."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: damaged (unreadable: {exc}); {advice}") from None
    if not isinstance(record, dict):
        raise UserError(f"{path}: damaged (not a JSON object); {advice}")
    if lacking := [key for key in keys if key not in record]:
        raise UserError(f"{path}: damaged (no {', '.join(lacking)}); {advice}")
    return record


def read_run_settings(path: Path) -> dict[str, Any]:
    """A run folder's `config.json` (see `read_run_record`)."""
    return read_run_record(
        path, (), "restore the run folder (`scenesmith archive ... --restore`) or start a new --out"
    )
