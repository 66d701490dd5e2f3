"""Finished runs copied from an earlier run folder when they are the same experiment there and here.

Two kinds of run can be lent:
- Real-only runs (`--real-arms-from`): they never see a synthetic image. Their training images (the
  seed's draw from the real pool), initial weights and schedule depend only on the settings outside the
  synthetic ones, so when two folders agree on everything else, seed k of `real_100` is the same
  experiment in both. Real-100% is the slowest arm (about an hour a seed on two cores), and a rules
  iteration changes the synthetic set only; copying keeps its ratios on the very same denominator runs.
- Pretrainings (`--pretrainings-from`): `synthetic_only` and `control_only` train on a rendered set
  named by its rules hash in the fingerprint, so only the fine-tune settings may differ. A fine-tune
  recipe trial then trains the fine-tunes alone (synthetic-only is about 35 minutes a seed).
  Adapted pretrainings are not lent: their adapter's identity is not part of the fingerprint.

Runs of a folder without an anneal (`--anneal-steps`) may be lent to one with it: the anneal is a
function of a finished run's best weights alone (train._start_anneal), so it is applied to the copies
here. Runs annealed with another length are not lent.

Each copy carries `copied_from.json`, so the report can say which runs were not trained in this folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.benchmark.config import read_run_settings
from scenesmith.benchmark.inputs import check_lender
from scenesmith.errors import UserError

# Fingerprint keys that only the fine-tunes (arms that start from a pretraining) depend on.
FINETUNE_SETTINGS = frozenset(
    {
        "finetune_learning_rate",
        "finetune_synthetic_share",
        "finetune_ema",
        "pseudo_min_centre",
        "pseudo_min_class",
        "student_augment",
        "student_init",
    }
)
# Fingerprint keys that only the synthetic arms and the fine-tunes depend on (see runner._fingerprint).
SYNTHETIC_SETTINGS = FINETUNE_SETTINGS | frozenset(
    {
        "scene",
        "synthetic",
        "synthetic_seed",
        "resolution",
        "samples",
        "synthetic_overrides",
        "control_scene",
        "synthetic_boxes",
        "synthetic_augment",
        "synthetic_sets",
    }
)
# Pretraining arms whose training data the fingerprint names (its synthetic_sets rules hashes).
LENDABLE_PRETRAININGS = frozenset({"synthetic_only", "control_only"})
PROVENANCE = "copied_from.json"


@dataclass(frozen=True)
class Lending:
    """One kind of run another folder may lend: the flag that asks for it and what may differ."""

    flag: str
    runs: str
    may_differ: frozenset[str]
    differ_words: str


REAL_ONLY = Lending("--real-arms-from", "real-only arms", SYNTHETIC_SETTINGS, "the synthetic settings")
PRETRAININGS = Lending("--pretrainings-from", "pretrainings", FINETUNE_SETTINGS, "the fine-tune settings")


def copy_real_runs(source: Path, out: Path, fingerprint: dict, arm_names: list[str], seeds: int) -> list[str]:
    """Copy the finished real-only runs `out` lacks (see `copy_runs`)."""
    return copy_runs(REAL_ONLY, source, out, fingerprint, arm_names, seeds)


def copy_pretrainings(
    source: Path, out: Path, fingerprint: dict, arm_names: list[str], seeds: int
) -> list[str]:
    """Copy the finished pretrainings among `arm_names` that `out` lacks (see `copy_runs`).

    Only LENDABLE_PRETRAININGS are considered; any other arm is trained in this folder.
    """
    lendable = [name for name in arm_names if name in LENDABLE_PRETRAININGS]
    return copy_runs(PRETRAININGS, source, out, fingerprint, lendable, seeds)


def copy_runs(
    lending: Lending, source: Path, out: Path, fingerprint: dict, arm_names: list[str], seeds: int
) -> list[str]:
    """Copy each finished `source/arms/<arm>/seed<k>` that `out` lacks; return what was copied.

    Refuses a source whose settings differ from `fingerprint` outside `lending.may_differ`. Unfinished
    source runs are left alone: this folder trains them itself.
    """
    config_path = source / "config.json"
    if not config_path.is_file():
        raise UserError(f"{lending.flag} {source}: not a benchmark run folder (no config.json)")
    theirs = _settings_outside(read_run_settings(config_path), lending.may_differ)
    ours = _settings_outside(fingerprint, lending.may_differ)
    if "anneal_steps" not in theirs.get("train", {}):  # runs never annealed are annealed here
        ours = {**ours, "train": {k: v for k, v in ours.get("train", {}).items() if k != "anneal_steps"}}
    if theirs != ours:
        changed = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise UserError(
            f"{lending.flag} {source}: its {lending.runs} were trained with other settings "
            f"({', '.join(changed)}); only {lending.differ_words} may differ"
        )
    from scenesmith.benchmark.scoring import unreportable_scores  # here: scoring → archive → this module

    check_lender(source, out, lending.flag)
    runs = [f"{name}/seed{seed}" for name in arm_names for seed in range(seeds)]
    lent = [
        (run, source / "arms" / run, out / "arms" / run)
        for run in runs
        if not (out / "arms" / run).exists() and (source / "arms" / run / "result.json").is_file()
    ]
    for run, origin, _ in lent:  # every run checked before any is copied
        if stale := unreportable_scores(origin):
            raise UserError(
                f"{lending.flag} {source}: {stale[0]} ranks each die by its best class, as scores did "
                "before 2026-12-07, and the run keeps no weights to score it again, so this code could not "
                f"report it; leave out {lending.flag} to train {run.split('/')[0]} here"
            )
    return [run for run, origin, target in lent if _copy_whole(origin, target)]


def copied_from(run_dir: Path) -> str | None:
    """The run folder this run was copied from, or None when it was trained here."""
    path = run_dir / PROVENANCE
    return json.loads(path.read_text())["run"] if path.is_file() else None


def _settings_outside(fingerprint: dict, may_differ: frozenset[str]) -> dict:
    return {k: v for k, v in fingerprint.items() if k not in may_differ}


def _copy_whole(origin: Path, target: Path) -> bool:
    """Copy into a private folder, then rename: a reader (or a second process) never sees half a run."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(origin, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock"))
        atomic_write_json(staging / PROVENANCE, {"run": str(origin.resolve())})
        staging.rename(target)
        return True
    except OSError:
        if target.exists():  # another process of this run folder copied it first
            return False
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
