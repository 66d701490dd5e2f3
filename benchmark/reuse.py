"""Finished real-only runs copied from an earlier run folder: a scene-rules iteration need not retrain them.

Why this is sound: a real-only arm never sees a synthetic image. Its training images (the seed's draw
from the real pool), initial weights and schedule depend only on the settings outside the synthetic
ones, so when two run folders agree on everything else, seed k of `real_100` is the same experiment in
both. Real-100% is the slowest arm (about an hour a seed on two cores), and a rules iteration changes
the synthetic set only; copying keeps its ratios on the very same denominator runs.

Each copy carries `copied_from.json`, so the report can say which runs were not trained in this folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.errors import UserError

# Fingerprint keys that only the synthetic arms depend on (see runner._fingerprint).
SYNTHETIC_SETTINGS = frozenset(
    {
        "scene",
        "synthetic",
        "synthetic_seed",
        "resolution",
        "samples",
        "synthetic_overrides",
        "control_scene",
        "synthetic_boxes",
        "synthetic_sets",
        "finetune_learning_rate",  # only arms that start from a (synthetic or control) pretraining use it
    }
)
PROVENANCE = "copied_from.json"


def copy_real_runs(source: Path, out: Path, fingerprint: dict, arm_names: list[str], seeds: int) -> list[str]:
    """Copy each finished `source/arms/<arm>/seed<k>` that `out` lacks; return what was copied.

    Refuses a source whose settings differ from `fingerprint` outside SYNTHETIC_SETTINGS. Unfinished
    source runs are left alone: this folder trains them itself.
    """
    config_path = source / "config.json"
    if not config_path.is_file():
        raise UserError(f"--real-arms-from {source}: not a benchmark run folder (no config.json)")
    theirs, ours = _real_settings(json.loads(config_path.read_text())), _real_settings(fingerprint)
    if theirs != ours:
        changed = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise UserError(
            f"--real-arms-from {source}: its real-only arms were trained with other settings "
            f"({', '.join(changed)}); only the synthetic settings may differ"
        )
    copied = []
    for name in arm_names:
        for seed in range(seeds):
            origin = source / "arms" / name / f"seed{seed}"
            target = out / "arms" / name / f"seed{seed}"
            if target.exists() or not (origin / "result.json").is_file():
                continue
            if _copy_whole(origin, target):
                copied.append(f"{name}/seed{seed}")
    return copied


def copied_from(run_dir: Path) -> str | None:
    """The run folder this run was copied from, or None when it was trained here."""
    path = run_dir / PROVENANCE
    return json.loads(path.read_text())["run"] if path.is_file() else None


def _real_settings(fingerprint: dict) -> dict:
    return {k: v for k, v in fingerprint.items() if k not in SYNTHETIC_SETTINGS}


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
