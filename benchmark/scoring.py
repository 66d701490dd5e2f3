"""A finished run's scores on real photos, computed once from its checkpoint and cached in its folder.

Why a module of its own: how the photos are scored (test-time augmentation, box calibration) changes
no training, so a finished run is re-scored from its best.pt when the scoring asked for differs from
the one its cached files record, and a run restored from an archive (no weights) must refuse a scoring
it cannot redo rather than report two kinds of score side by side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.benchmark.archive import BOX_FACTOR, WEIGHTS
from scenesmith.benchmark.archive import SCORES as ARCHIVED_SCORES
from scenesmith.benchmark.box_calibration import fitted_factor, rescaled
from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.evaluate import Detections, evaluate
from scenesmith.benchmark.misreads import misread_sheet
from scenesmith.benchmark.train import predict
from scenesmith.errors import UserError

MISREADS = "misreads.json"  # in a run folder: how many real validation dice its checkpoint misreads
# Keys of `evaluate`'s score added after runs were already cached: a score without them is redone.
DIAGNOSTICS = {"reading", "box_scale", "map_image_resamples", "die_ranked_by"}


class Predictor:
    """A run's best checkpoint, loaded when first needed, predicting each photo set at most once per
    test-time augmentation.

    Why: a run's first calibrated scoring fits its box factor on the validation photos and then scores
    them: two passes (of 8 turns each under `--tta dihedral`) over the same photos with the same
    weights; the report's sample predictions and misread sheet share one predictor the same way. The
    detections handed out are shared: no caller may modify them (none does: `rescaled` makes new
    boxes; torch's `as_tensor` in matching warns on read-only arrays, so they are not frozen).
    """

    def __init__(self, load: Callable[[], torch.nn.Module]) -> None:
        self._load = load
        self._model: torch.nn.Module | None = None
        self._made: dict[tuple[tuple[tuple[int, str], ...], str], Detections] = {}

    def __call__(self, dataset: DetectionSet, tta: str) -> Detections:
        # ids alone could collide: --real-train and --real-test may be two COCO files numbered alike
        key = (tuple((s.image_id, s.file_name) for s in dataset.samples), tta)
        if key not in self._made:
            if self._model is None:
                self._model = self._load()
            self._made[key] = predict(self._model, dataset, tta)
        return self._made[key]


@dataclass(frozen=True)
class Scoring:
    """How a run's predictions on real photos are made: `tta` as in `tta.outputs_for`; every box
    rescaled about its centre by `box_factor` (None: as trained; `box_calibration.py`)."""

    tta: str
    box_factor: float | None = None

    @classmethod
    def of(cls, cached: dict) -> Scoring:
        """The scoring a cached file was made with (files from before an option: made without it)."""
        return cls(cached.get("tta", "none"), cached.get("box_factor"))

    def detections(self, predictor: Predictor, dataset: DetectionSet) -> Detections:
        found = predictor(dataset, self.tta)
        return found if self.box_factor is None else rescaled(found, self.box_factor, dataset)


def box_factor(
    run_dir: Path, calibration: str, tta: str, real_val: DetectionSet, predictor: Predictor | None
) -> float | None:
    """The run's box-scale factor under `--box-calibration calibration` (None: boxes as trained),
    fitted once on the real validation photos into `run_dir/box_factor.json`."""
    if calibration == "none":
        return None
    path = run_dir / BOX_FACTOR
    cached = json.loads(path.read_text()) if path.is_file() else None
    if cached and cached["tta"] == tta:
        return cached["factor"]
    if predictor is None and cached:
        raise UserError(
            f"{path}: fitted with --tta {cached['tta']}, and the checkpoint to fit it again with --tta {tta} "
            f"is not in {run_dir} (an archive keeps no weights); pass --tta {cached['tta']}"
        )
    if predictor is None:
        raise UserError(
            f"{run_dir}: --box-calibration {calibration} fits a box scale from the run's checkpoint, which "
            "is not there (an archive keeps no weights); pass --box-calibration none to report these scores"
        )
    factor = fitted_factor(real_val, predictor(real_val, tta))
    atomic_write_json(path, {"tta": tta, "factor": factor, "fitted_on": "real validation photos"})
    return factor


def cached_score(
    path: Path, dataset: DetectionSet, predictor: Predictor | None, scoring: Scoring
) -> dict | None:
    """The best checkpoint's score on `dataset` made with `scoring` (None without a `predictor`),
    computed once into `path`.

    Why the real validation split too: it is what scene-rule iterations are compared on. The
    synthetic-only arm picks its checkpoint on synthetic validation, so this is its only real score
    apart from test, and test must never steer the rules.
    """
    if path.exists():
        cached = json.loads(path.read_text())
        if not cached:
            return None
        made_with = Scoring.of(cached)
        # A score from before the per-die diagnostics existed, or made another way, is recomputed from
        # the same checkpoint, when there is one.
        if DIAGNOSTICS <= set(cached) and made_with == scoring:
            return cached
        if predictor is None:
            _refuse_rescoring(path, cached, scoring)
            return cached
    score = None
    if predictor is not None:
        score = {**evaluate(dataset, scoring.detections(predictor, dataset)), **asdict(scoring)}
    atomic_write_json(path, score)
    return score


def _dies_ranked_the_old_way(cached: dict) -> bool:
    """A score made before 2026-12-07, when each die was ranked by its best class (no `die_ranked_by`)."""
    return "die_ranked_by" not in cached


def unreportable_scores(run_dir: Path) -> list[Path]:
    """The score files of a run without weights that this code can neither report nor redo: scores made
    before dies were ranked the current way (see `_refuse_rescoring`). Lending such a run would fail
    only when the report reads it, after every other run had trained."""
    if (run_dir / WEIGHTS).is_file():
        return []
    paths = [run_dir / name for name in ARCHIVED_SCORES if (run_dir / name).is_file()]
    return [
        path
        for path in paths
        if (cached := json.loads(path.read_text())) and _dies_ranked_the_old_way(cached)
    ]


def _refuse_rescoring(path: Path, cached: dict, asked: Scoring) -> None:
    """A cached score (`path`'s content) that differs from the one asked for, in a run with no
    checkpoint to redo it."""
    made_with = Scoring.of(cached)
    if _dies_ranked_the_old_way(cached):
        raise UserError(
            f"{path}: its die score ranks each die by its best class, as scores did before 2026-12-07, and "
            f"the checkpoint to score it again is not in {path.parent} (an archive keeps no weights); "
            "report it with the code of its time, or train it again"
        )
    if made_with.tta != asked.tta:
        raise UserError(
            f"{path}: scored with --tta {made_with.tta}, and the checkpoint to score it again with "
            f"--tta {asked.tta} is not in {path.parent} (an archive keeps no weights); "
            f"pass --tta {made_with.tta} to report these scores"
        )
    if made_with.box_factor is not None and asked.box_factor is not None:
        raise UserError(
            f"{path}: scored with box factor {made_with.box_factor}, and {path.parent / BOX_FACTOR} now "
            f"holds {asked.box_factor}; the checkpoint to score it again is not in {path.parent}"
        )
    if made_with.box_factor != asked.box_factor:
        calibration = "none" if made_with.box_factor is None else "validation"
        raise UserError(
            f"{path}: scored with --box-calibration {calibration}, and the checkpoint to score it again is "
            f"not in {path.parent} (an archive keeps no weights); pass --box-calibration {calibration} "
            "to report these scores"
        )


def misreads_once(
    run_dir: Path, predictor: Predictor, real_val: DetectionSet, scoring: Scoring, sheet: Path
) -> dict:
    """The misread sheet of a finished run, drawn once: its count is kept in the run (`misreads.json`).

    Why: a finished run's checkpoint never changes, and every report predicted the validation photos
    again (8 passes each with the dihedral test-time augmentation) for every headline arm.
    """
    record = run_dir / MISREADS
    if record.is_file():
        cached = json.loads(record.read_text())
        if Scoring.of(cached) == scoring and (cached["misread"] == 0 or sheet.is_file()):
            return {"file": sheet.name if cached["misread"] else None, "misread": cached["misread"]}
    count = misread_sheet(real_val, scoring.detections(predictor, real_val), sheet)
    atomic_write_json(record, {**asdict(scoring), "misread": count})
    return {"file": sheet.name if count else None, "misread": count}
