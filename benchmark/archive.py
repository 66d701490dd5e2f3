"""A benchmark run folder's results without its training state: small enough to commit, enough to go on.

Why: a run folder holds every run's resumable state and best weights (about 5 MB a run, hundreds of MB
for a fraction sweep) and lives outside the repository, where a lost or reset machine loses hours of
training. The archive keeps what the report reads (the folder's settings, each finished run's result,
scores and provenance) and the best weights of the pretrainings only (the runs fine-tunes start from).
Restored into a run folder, it lets `--report-only` rebuild the report and the same benchmark command
train the runs still missing, fine-tunes included, without retraining anything the archive holds.
"""

from __future__ import annotations

from pathlib import Path

from scenesmith.annotate.atomic import atomic_write_bytes, atomic_write_json
from scenesmith.benchmark.arms import is_pretraining
from scenesmith.benchmark.inputs import INPUTS, merged_inputs, recorded_inputs
from scenesmith.benchmark.reuse import PROVENANCE
from scenesmith.errors import UserError

SETTINGS = "config.json"
SCORES = ("test.json", "real_val.json")  # written after training: without them a run needs its weights
FINISHED = "result.json"  # training's last file: its presence is what the runner calls finished
# A self-training run's labels (`pseudo_labels.py`): the report reads their summary, and without the
# teacher's weights (not archived) they could not be made again.
PSEUDO_LABELS = "pseudo_labels.json"
# A run's box-scale factor under `--box-calibration validation` (`scoring.box_factor`): fitted from
# weights that are not archived, so it could not be fitted again.
BOX_FACTOR = "box_factor.json"
RUN_FILES = (FINISHED, *SCORES, PROVENANCE, PSEUDO_LABELS, BOX_FACTOR)
WEIGHTS = "best.pt"


def archive_runs(run: Path, archive: Path) -> list[str]:
    """Copy the finished runs of `run` into `archive` (adding to, or refreshing, what it holds).

    Returns the runs copied as "arm/seedK". A run still training or being scored is left out.
    """
    settings = _settings(run)
    _check_same_settings(archive, settings, run)
    inputs = _inputs_to_write(run, archive)
    # The settings first, as `restore_runs` does: an archive cut short (Ctrl-C, a full disk) is then
    # still an archive of these settings, which the same command completes, not a folder it refuses.
    _copy_file(run / SETTINGS, archive / SETTINGS)
    if inputs is not None:
        atomic_write_json(archive / INPUTS, inputs)
    copied = []
    for run_dir in _finished_runs(run):
        target = archive / run_dir.relative_to(run)
        names = [*RUN_FILES, WEIGHTS] if is_pretraining(run_dir.parent.name) else RUN_FILES
        _copy_files(run_dir, target, names)
        copied.append(f"{run_dir.parent.name}/{run_dir.name}")
    return copied


def restore_runs(archive: Path, run: Path) -> list[str]:
    """Copy the archived runs that `run` has not finished into `run`; a finished run there is kept.

    Returns the runs restored as "arm/seedK".
    """
    settings = _settings(archive)
    _check_same_settings(run, settings, archive)
    inputs = _inputs_to_write(archive, run)
    _copy_file(archive / SETTINGS, run / SETTINGS)
    if inputs is not None:
        atomic_write_json(run / INPUTS, inputs)
    restored = []
    for archived in _finished_runs(archive):
        target = run / archived.relative_to(archive)
        if (target / FINISHED).is_file():
            continue
        _drop_unfinished_state(target, archived)
        _copy_files(archived, target, [*RUN_FILES, WEIGHTS])
        restored.append(f"{archived.parent.name}/{archived.name}")
    return restored


def _inputs_to_write(origin: Path, target: Path) -> dict | None:
    """The record of the runs' real data and adapters (`inputs.py`) that `target` must hold, None when
    its own needs no change: checked before anything is copied, so runs trained on other data never
    land beside its own."""
    theirs, ours = recorded_inputs(origin), recorded_inputs(target)
    if not theirs:
        return None
    try:
        merged = merged_inputs(ours, theirs, target)
    except UserError:
        raise UserError(
            f"{target}: its runs used other real data or adapters than {origin}'s ({target / INPUTS} differs)"
        ) from None
    return None if merged == ours else merged


def _drop_unfinished_state(target: Path, archived: Path) -> None:
    """Remove what a part-trained run left in `target` that the archive does not replace: its weights
    beside the finished run's results would be scored as that run's (a re-score with other settings,
    a self-training teacher's labels), and its resumable state belongs to another training."""
    for stale in target.iterdir() if target.is_dir() else ():
        if stale.is_file() and not (archived / stale.name).is_file():
            stale.unlink()


def _settings(folder: Path) -> bytes:
    path = folder / SETTINGS
    if not path.is_file():
        raise UserError(f"{folder}: not a benchmark run folder or archive (no {SETTINGS})")
    return path.read_bytes()


def _check_same_settings(folder: Path, settings: bytes, source: Path) -> None:
    """Runs of two different benchmark configurations must never be mixed in one folder, and a folder
    that is neither a run folder nor an archive (a dataset, its images) is not written into."""
    path = folder / SETTINGS
    if path.is_file() and path.read_bytes() != settings:
        raise UserError(f"{folder}: holds runs of other benchmark settings than {source} ({path} differs)")
    if not path.is_file() and folder.is_dir() and any(folder.iterdir()):
        raise UserError(
            f"{folder}: not empty and neither a benchmark run folder nor an archive (no {SETTINGS}); "
            "choose a new folder"
        )


def _finished_runs(folder: Path) -> list[Path]:
    """Runs trained and scored: the report reads them without loading a checkpoint."""
    runs = (p.parent for p in folder.glob(f"arms/*/seed*/{FINISHED}"))
    return sorted(r for r in runs if all((r / name).is_file() for name in SCORES))


def _copy_files(origin: Path, target: Path, names: list[str] | tuple[str, ...]) -> None:
    """The finished marker goes last, so an interrupted copy is never taken for a finished run."""
    present = [name for name in names if (origin / name).is_file()]
    for name in sorted(present, key=lambda name: name == FINISHED):
        _copy_file(origin / name, target / name)


def _copy_file(origin: Path, target: Path) -> None:
    data = origin.read_bytes()
    if target.is_file() and target.read_bytes() == data:
        return  # unchanged: keep the file (and its timestamp) as it is
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
