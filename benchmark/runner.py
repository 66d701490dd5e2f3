"""Run every arm of the sim-to-real benchmark, resumably, and write the report.

Why the shape: data hygiene is structural here. The real test split is only touched after an arm has
finished training (its best checkpoint chosen on validation), the validation split is one fixed carve
of train, and the pool that "100%" and "10%" refer to is what remains. A run folder holds one
checkpoint folder per (arm, seed); running the same command again skips finished arms and resumes the
interrupted one, and running it in several processes at once splits the runs between them.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import torch

import scenesmith
from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.annotate.stats import default_split
from scenesmith.benchmark import report as reporting
from scenesmith.benchmark.archive import BOX_FACTOR, PSEUDO_LABELS, SCORES
from scenesmith.benchmark.arms import Arm, plan
from scenesmith.benchmark.augment import LATER_AUGMENT_FIELDS, AugmentConfig, with_preset
from scenesmith.benchmark.config import BenchmarkConfig, TrainConfig, default_of, read_run_settings
from scenesmith.benchmark.data import (
    DetectionSet,
    draw_fraction,
    fraction_count,
    load_coco,
    resolve_coco,
    split_validation,
)
from scenesmith.benchmark.inputs import check_inputs, real_data_digest
from scenesmith.benchmark.labels_kept import reading_kept
from scenesmith.benchmark.model import ARCHITECTURE, UNKNOWN_CLASS
from scenesmith.benchmark.pseudo_labels import (
    PseudoLabelRule,
    label_quality,
    load_labels,
    read_labels,
    save_labels,
    teacher_labels,
    with_labels,
)
from scenesmith.benchmark.reuse import copied_from, copy_pretrainings, copy_real_runs
from scenesmith.benchmark.schedule import run_shared
from scenesmith.benchmark.scoring import MISREADS, Predictor, Scoring, box_factor, cached_score, misreads_once
from scenesmith.benchmark.synthetic import SyntheticSpec, ensure_adapted, ensure_synthetic, render_seconds
from scenesmith.benchmark.train import anneal_pending, load_best, pick_device, train_arm
from scenesmith.errors import UserError
from scenesmith.procedural.build import BUILD_VERSION


def _load_real(config: BenchmarkConfig) -> tuple[DetectionSet, DetectionSet]:
    if config.real is not None:
        train, test = load_coco(config.real, split="train"), load_coco(config.real, split="test")
    elif config.real_train is None or config.real_test is None:
        raise UserError("give --real (COCO with a 'split' field) or both --real-train and --real-test")
    else:  # a file that marks its splits gives only its own split
        train = load_coco(config.real_train, split=default_split(resolve_coco(config.real_train)))
        test = load_coco(config.real_test, split=default_split(resolve_coco(config.real_test)) and "test")
        if train.class_names != test.class_names:
            raise UserError(
                f"--real-test {config.real_test} has the classes {list(test.class_names)}, --real-train "
                f"{config.real_train} {list(train.class_names)} (in the order of their category ids); "
                "predictions are scored by class index, so both files must list the same classes alike"
            )
    _refuse_shared_photos(train, test)
    return train, test


def _pixels_digest(rgb: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).digest()


def _refuse_shared_photos(train: DetectionSet, test: DetectionSet) -> None:
    """A test photo among the training photos (the same file, or the same pixels under another name)
    would make every score a score on seen data."""
    seen = {_pixels_digest(sample.image): sample.file_name for sample in train.samples}
    shared = [
        (seen[digest], sample.file_name)
        for sample in test.samples
        if (digest := _pixels_digest(sample.image)) in seen
    ]
    if shared:
        examples = ", ".join(f"{a} = {b}" for a, b in shared[:3])
        raise UserError(
            f"the real test set shares {len(shared)} photos with the training set (train = test: "
            f"{examples}); scores must come from unseen photos"
        )


def _synthetic_set(
    scene: str, config: BenchmarkConfig, adapter: Path | None = None
) -> tuple[DetectionSet, DetectionSet, dict]:
    """(train, validation, description) of the first N images of a cached synthetic set.

    With `adapter`, the same images passed through it (cached too; same ids, so the same split).
    """
    spec = _spec(scene, config)
    create = not config.report_only
    folder = ensure_synthetic(spec, config.device if config.device != "cuda" else "gpu", create)
    rendered = folder
    if adapter is not None:
        folder = ensure_adapted(folder, adapter, config.synthetic_seed, create)
    dataset = load_coco(folder, image_ids=set(range(1, config.synthetic + 1))).with_boxes(
        config.synthetic_boxes
    )
    ids = dataset.image_ids
    val_size = max(4, len(ids) // 10)
    description = {
        "scene": scene,
        "folder": str(folder),
        "count": len(ids),
        "train_images": len(ids) - val_size,
        "val_images": val_size,
        "resolution": list(config.resolution),
        "samples": config.samples,
        "seed": config.synthetic_seed,
        "overrides": list(spec.overrides),
        "build_version": BUILD_VERSION,
        **({"plugin_revisions": revisions} if (revisions := spec.plugin_revisions) else {}),
        "render_seconds": render_seconds(rendered, config.synthetic),
        "adapter": None if adapter is None else str(adapter),
        "boxes": config.synthetic_boxes.describe(),
    }
    return dataset.subset(ids[:-val_size]), dataset.subset(ids[-val_size:]), description


def _spec(scene: str, config: BenchmarkConfig) -> SyntheticSpec:
    overrides = config.synthetic_overrides if scene == config.scene else ()
    return SyntheticSpec(
        scene, config.synthetic, config.synthetic_seed, config.resolution, config.samples, tuple(overrides)
    )


def _check_classes(real: DetectionSet, config: BenchmarkConfig) -> None:
    """Before the (long) render: the scene must label the real data's classes, in the same order."""
    scene_classes = _spec(config.scene, config).class_names
    if real.class_names != scene_classes:
        raise UserError(
            f"scene {config.scene!r} labels {list(scene_classes)} but the real data labels "
            f"{list(real.class_names)}; the scene's categories must match the real ones by name"
        )


def _checked_adapters(config: BenchmarkConfig, test: DetectionSet) -> dict[str, Path]:
    """Adapter tag → folder, each folder loaded once so that a wrong --adapter fails before any work,
    and refused when it was fitted on a test photo: by any route (a copy of the photos under another
    name, an older version), an adapted arm would then train on what it is scored on."""
    from scenesmith.domain_adapt.apply import fitted_real_images, load_adapter

    tags = config.adapter_tags
    test_photos = {_pixels_digest(sample.image): sample.file_name for sample in test.samples}
    for folder in tags.values():
        load_adapter(folder)
        seen, unread = [], []
        for path in fitted_real_images(folder):
            if (bgr := cv2.imread(str(path), cv2.IMREAD_COLOR)) is None:
                unread.append(path)
            elif (digest := _pixels_digest(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))) in test_photos:
                seen.append((path, test_photos[digest]))
        if unread:  # moved since, or fitted elsewhere: said, since it cannot be checked
            print(
                f"warning: --adapter {folder}: {len(unread)} of the real photos it was fitted on cannot be "
                f"read (e.g. {unread[0]}), so they are not checked against the test photos",
                file=sys.stderr,
            )
        if seen:
            raise UserError(
                f"--adapter {folder}: fitted on {len(seen)} of the real test photos (e.g. {seen[0][0]} = "
                f"{seen[0][1]}); scores must come from unseen photos: refit it on the train split"
            )
    return tags


def _adapter_digests(adapters: dict[str, Path]) -> dict[str, str]:
    from scenesmith.domain_adapt.apply import adapter_digest

    return {tag: adapter_digest(folder) for tag, folder in adapters.items()}


# What a run derives from its best weights (kept beside them so a rerun need not score again).
FROM_WEIGHTS = (*SCORES, MISREADS, BOX_FACTOR)
# Settings whose default changed on 2026-12-05 (to the recipe measured best on dice) → the flag that gives
# back the earlier default; a folder begun before then records none of them.
FORMER_DEFAULTS = {
    "synthetic_augment": "--synthetic-augment standard",
    "finetune_learning_rate": "--finetune-learning-rate LR (its --learning-rate, 0.002 by default)",
    "finetune_synthetic_share": "--finetune-synthetic-share 0",
}


def _change(key: str, before: dict, now: dict) -> str:
    """`key`, with its two values when both are plain values (a missing one is that setting's default
    of the folder's time, which its fingerprint leaves out)."""
    values = [before.get(key, "not recorded"), now.get(key, "not recorded")]
    if any(isinstance(value, dict | list) for value in values):
        return key
    return f"{key}: {values[0]} in the folder, {values[1]} now"


def _check_run_folder(out: Path, fingerprint: dict) -> None:
    """Refuse to mix two different benchmark configurations in one run folder."""
    path = out / "config.json"
    if path.exists():
        before = read_run_settings(path)
        if before != fingerprint:
            changed = sorted(k for k in set(before) | set(fingerprint) if before.get(k) != fingerprint.get(k))
            hint = (
                " (the scene rules or render settings changed since it began: a rule iteration is a new run)"
                if "synthetic_sets" in changed
                else ""
            )
            flags = [flag for key, flag in FORMER_DEFAULTS.items() if key in changed and key not in before]
            if flags:
                hint += (
                    f" (it began under the defaults before 2026-12-05: to continue it, add {' '.join(flags)})"
                )
            differences = ", ".join(_change(key, before, fingerprint) for key in changed)
            raise UserError(
                f"{out}: holds a run with different settings ({differences}){hint}; "
                "use another --out or the same settings"
            )
    else:
        atomic_write_json(path, fingerprint)


def _fingerprint(config: BenchmarkConfig) -> dict:
    data = asdict(config)
    # May change between resumed invocations; an adapter's identity is in its adapted set's cache key.
    for key in (
        "out",
        "arms",
        "sweep",
        "seeds",
        "device",
        "adapters",
        "synthetic_boxes",
        "real_arms_from",
        "pretrainings_from",
        "report_only",
        "tta",
        "box_calibration",
        "self_train",
    ):
        data.pop(key)
    # Only a non-exact convention is recorded, so run folders from before the option still resume.
    if not config.synthetic_boxes.exact:
        data["synthetic_boxes"] = asdict(config.synthetic_boxes)
    # Likewise recorded only when it differs from the pretraining's rate (None and an equal rate are one
    # recipe), so folders from before the option resume.
    if config.finetune_learning_rate in (None, config.train.learning_rate):
        data.pop("finetune_learning_rate")
    for key in ("finetune_synthetic_share", "finetune_ema"):
        if not data[key]:
            data.pop(key)
    for key in ("synthetic_augment", "student_augment"):
        if data[key] == "standard":
            data.pop(key)
    # Settings of the self-training arm only, added later: recorded when they differ from their defaults.
    for key in ("pseudo_min_centre", "pseudo_min_class", "student_init"):
        if data[key] == default_of(BenchmarkConfig, key):
            data.pop(key)
    if not config.train.anneal_steps:  # added later: recorded only when set, so older folders resume
        data["train"].pop("anneal_steps")
    # Augmentation fields added later are recorded only when set, for the same reason.
    for key in LATER_AUGMENT_FIELDS:
        if getattr(config.train.augment, key) == getattr(AugmentConfig(), key):
            data["train"]["augment"].pop(key)
    # The rules themselves, not just the scene's name: editing the YAML between two invocations would
    # otherwise pretrain later arms on a new set and report them beside arms from the old one.
    data["detector"] = ARCHITECTURE  # a head change makes old checkpoints a different experiment
    data["synthetic_sets"] = {
        role: _spec(scene, config).folder_name
        for role, scene in (("scene", config.scene), ("control", config.control_scene))
        if scene is not None
    }
    return json.loads(json.dumps(data, default=str))


def run_benchmark(config: BenchmarkConfig, command: str) -> dict:
    # Every input is checked before the run folder is touched: a mistyped path must not leave behind
    # a config.json that then refuses the corrected command as "different settings".
    real_train, real_test = _load_real(config)
    adapters = _checked_adapters(config, real_test)
    fingerprint = _fingerprint(config)  # loads the scene rules: a bad rule fails here, naming its file
    device = pick_device(config.device)
    pool_ids, val_ids = split_validation(real_train.image_ids, config.val_count, config.split_seed)
    real_val = real_train.subset(val_ids)
    if config.self_train and fraction_count(len(pool_ids), config.fraction) == len(pool_ids):
        raise UserError(
            f"--self-train labels the pool photos that --fraction {100 * config.fraction:g} leaves out, "
            f"and it leaves none of the {len(pool_ids)}: choose a smaller --fraction"
        )
    arms = plan(
        control=config.control_scene is not None,
        sweep=config.sweep,
        headline_fraction=config.fraction,
        adapters=tuple(adapters),
        self_train=config.self_train,
    )
    if config.arms:
        unknown = set(config.arms) - {a.name for a in arms}
        if unknown:
            raise UserError(f"unknown arm(s) {sorted(unknown)}; known: {[a.name for a in arms]}")
        arms = _with_prerequisites(arms, config.arms)
    if any(a.source == "synthetic" or a.source.startswith("adapted:") for a in arms):
        _check_classes(real_train, config)
    out = config.out
    if config.report_only and not (out / "arms").is_dir():
        raise UserError(f"{out}: no benchmark runs here to report (--report-only trains nothing)")
    out.mkdir(parents=True, exist_ok=True)
    _check_run_folder(out, fingerprint)
    check_inputs(out, real_data_digest(real_train, real_test), _adapter_digests(adapters))
    if config.real_arms_from is not None and not config.report_only:
        real_only = [a.name for a in arms if a.source == "real" and a.pretrained is None]
        copied = copy_real_runs(config.real_arms_from, out, fingerprint, real_only, config.seeds)
        print(f"copied {len(copied)} finished real-only runs from {config.real_arms_from}", *copied)
    if config.pretrainings_from is not None and not config.report_only:
        pretrainings = [a.name for a in arms if a.source != "real" and a.pretrained is None]
        copied = copy_pretrainings(config.pretrainings_from, out, fingerprint, pretrainings, config.seeds)
        print(f"copied {len(copied)} finished pretrainings from {config.pretrainings_from}", *copied)
    sources: dict[str, tuple[DetectionSet, DetectionSet, dict]] = {}
    if any(a.source == "synthetic" for a in arms):
        sources["synthetic"] = _synthetic_set(config.scene, config)
    if any(a.source == "control" for a in arms):
        sources["control"] = _synthetic_set(config.control_scene, config)
    for tag, adapter in adapters.items():
        if any(a.source == f"adapted:{tag}" for a in arms):
            sources[f"adapted:{tag}"] = _synthetic_set(config.scene, config, adapter)

    arm_info = {}
    by_name = {a.name: a for a in arms}
    for arm in arms:
        arm_info[arm.name] = _arm_info(arm, by_name, config, len(pool_ids), sources)
    replays = {arm.name: _replay_set(arm, by_name, config, sources, real_train) for arm in arms}
    items = [(arm.name, seed) for arm in arms for seed in range(config.seeds)]

    def run_one(item: tuple[str, int]) -> dict:
        real = (real_train, real_val, real_test)
        return _run_arm(by_name[item[0]], item[1], config, device, real, pool_ids, sources, replays[item[0]])

    if config.report_only:
        finished = [item for item in items if _finished(out, *item)]
        # A finished run still owed its end-of-run anneal would be annealed (trained) by scoring it.
        unannealed = [
            item
            for item in finished
            if anneal_pending(_run_dir(out, *item), arm_train_config(by_name[item[0]], config))
        ]
        if unannealed:
            print(
                f"left out of the report: {len(unannealed)} runs still owed their anneal (run the benchmark "
                "without --report-only to anneal them):",
                *(f"{name}/seed{seed}" for name, seed in unannealed),
            )
            finished = [item for item in finished if item not in unannealed]
        if not finished:
            raise UserError(f"{out}: none of the {len(items)} runs asked for has finished yet")
        records = [run_one(item) for item in finished]  # reads result.json; scores at most, never trains
    else:
        records = run_shared(
            items,
            run_one,
            lambda item: _run_dir(out, *item).with_suffix(".lock"),
            lambda item: (by_name[item[0]].waits_for, item[1]) if by_name[item[0]].waits_for else None,
        )
    summary = reporting.aggregate(records, arm_info)
    report = {
        "command": command,
        "scene": config.scene,
        "real": str(config.real or config.real_train),
        "class_names": list(real_train.class_names),
        "seeds": config.seeds,
        "real_pool_images": len(pool_ids),
        "real_val_images": len(val_ids),
        "real_val_image_ids": sorted(int(i) for i in val_ids),  # `compare` pairs runs on these
        "real_test_images": len(real_test.samples),
        "real_test_image_ids": sorted(int(s.image_id) for s in real_test.samples),
        "synthetic": sources["synthetic"][2] if "synthetic" in sources else None,
        "control": sources["control"][2] if "control" in sources else None,
        "adapted": _adapted_descriptions(out, config, device, sources),
        "detector": ARCHITECTURE,
        "train_config": asdict(config.train),
        "finetune_learning_rate": config.finetune_learning_rate,
        "finetune_synthetic_share": config.finetune_synthetic_share,
        "finetune_ema": config.finetune_ema,
        "synthetic_augment": config.synthetic_augment,
        "student_augment": config.student_augment,
        "student_init": config.student_init,
        "tta": config.tta,
        "box_calibration": config.box_calibration,
        "machine": f"{platform.node() or 'host'}: {torch.get_num_threads()} CPU threads, device {device}",
        "scenesmith_version": scenesmith.__version__,
        "arms": summary,
        "headline": reporting.headline(summary, f"{config.fraction * 100:g}", records),
        "warnings": reporting.budget_warnings(
            summary, config.seeds, [arm.name for arm in arms if _scored_on_real(arm)]
        ),
    }
    report["misread_sheets"], report["prediction_sheet"] = _draw_predictions(
        arms, config, device, real_test, real_val, out
    )
    report["pseudo_label_sheets"] = _draw_pseudo_labels(arms, real_train, out)
    reporting.write_report(report, records, out)
    return report


def _with_prerequisites(arms: list[Arm], asked: tuple[str, ...]) -> list[Arm]:
    """The arms asked for, and every arm they start from or learn from (in plan order)."""
    by_name = {a.name: a for a in arms}
    needed: set[str] = set()
    pending = list(asked)
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending += [n for n in (by_name[name].pretrained, by_name[name].teacher) if n]
    return [a for a in arms if a.name in needed]


def _scored_on_real(arm: Arm) -> bool:
    """Whether an arm predicts the real classes: not the control pretraining (another scene's)."""
    return arm.source != "control"


def _run_dir(out: Path, arm: str, seed: int) -> Path:
    """Where one arm's seed keeps its checkpoints and scores (its lock file sits beside it)."""
    return out / "arms" / arm / f"seed{seed}"


def _finished(out: Path, arm: str, seed: int) -> bool:
    return (_run_dir(out, arm, seed) / "result.json").is_file()


def _arm_info(
    arm: Arm, by_name: dict[str, Arm], config: BenchmarkConfig, pool_size: int, sources: dict
) -> dict:
    real_images = fraction_count(pool_size, arm.real_fraction) if arm.uses_real else 0
    origin = by_name[arm.pretrained] if arm.pretrained else arm
    pretrain = origin.source if origin.source in sources else None
    adapter = sources[pretrain][2]["adapter"] if pretrain else None
    unlabelled = pool_size - real_images if arm.teacher else _adapter_real_images(adapter)
    return {
        "family": arm.family,
        "real_fraction": arm.real_fraction,
        "real_train_images": real_images,
        "unlabelled_real_images": unlabelled,
        "teacher": arm.teacher,
        "real_train_fraction": real_images / pool_size,
        "labelled_real_images": real_images + config.val_count if arm.uses_real else 0,
        "synthetic_images": sources[pretrain][2]["count"] if pretrain else 0,
        "pretrained_from": arm.pretrained,
        "adapter": adapter,
    }


def _adapter_real_images(adapter: str | None) -> int | None:
    """How many real photos an adapter was fitted on (unlabelled use, but real data all the same):
    0 without an adapter, None when its method does not record the count."""
    if adapter is None:
        return 0
    from scenesmith.domain_adapt.adapter import ADAPTER_FILE

    count = json.loads((Path(adapter) / ADAPTER_FILE).read_text()).get("fitted_on", {}).get("real_images")
    return None if count is None else int(count)


def arm_train_config(arm: Arm, config: BenchmarkConfig) -> TrainConfig:
    """The training settings of one arm: a fine-tune takes `finetune_learning_rate` when it is set, and a
    self-training student the `student_augment` preset; an arm that trains on rendered images (a
    pretraining) takes the `synthetic_augment` preset."""
    if arm.pretrained:
        train = config.train
        if config.finetune_learning_rate is not None:
            train = replace(train, learning_rate=config.finetune_learning_rate)
        if arm.teacher:
            train = replace(train, augment=with_preset(train.augment, config.student_augment))
        return train
    if arm.source != "real":
        return replace(config.train, augment=synthetic_augment(config))
    return config.train


def initial_weights(arm: Arm, seed: int, config: BenchmarkConfig) -> Path | None:
    """The weights an arm starts from: its pretraining's best (same seed), none when it has none; a
    self-training student with `student_init` "teacher" starts from its teacher's best instead."""
    if arm.teacher and config.student_init == "teacher":
        return _run_dir(config.out, arm.teacher, seed) / "best.pt"
    return _run_dir(config.out, arm.pretrained, seed) / "best.pt" if arm.pretrained else None


def synthetic_augment(config: BenchmarkConfig) -> AugmentConfig:
    """The augmentation of rendered images: the run's, changed by the `synthetic_augment` preset."""
    return with_preset(config.train.augment, config.synthetic_augment)


def _replay_set(
    arm: Arm, by_name: dict[str, Arm], config: BenchmarkConfig, sources: dict, real: DetectionSet
) -> DetectionSet | None:
    """The synthetic train set a fine-tune replays (`finetune_synthetic_share`), or None.

    Its pretraining's own set, when that set labels the real classes: not the control scene's.
    """
    if not arm.pretrained or not config.finetune_synthetic_share:
        return None
    pretraining_set = sources[by_name[arm.pretrained].source][0]
    return pretraining_set if pretraining_set.class_names == real.class_names else None


def _run_arm(
    arm: Arm,
    seed: int,
    config: BenchmarkConfig,
    device: torch.device,
    real: tuple[DetectionSet, DetectionSet, DetectionSet],
    pool_ids: list[int],
    sources: dict,
    replay: DetectionSet | None,
) -> dict:
    real_train, real_val, real_test = real
    run_dir = _run_dir(config.out, arm.name, seed)
    pseudo = None
    if arm.uses_real:
        drawn = draw_fraction(pool_ids, arm.real_fraction, seed)
        train_set, val_set = real_train.subset(drawn), real_val
        if arm.teacher:
            unlabelled = real_train.subset(sorted(set(pool_ids) - set(drawn)))
            pseudo = _pseudo_labelled(arm, seed, config, device, unlabelled, real_val)
            train_set = DetectionSet(train_set.class_names, train_set.samples + pseudo[0].samples)
    else:
        train_set, val_set = sources[arm.source][0], sources[arm.source][1]
    init = initial_weights(arm, seed, config)
    started = time.perf_counter()
    train_config = arm_train_config(arm, config)
    if anneal_pending(run_dir, train_config):  # its weights change here: scores made from the old ones go
        for name in FROM_WEIGHTS:
            (run_dir / name).unlink(missing_ok=True)
    result = train_arm(
        train_set,
        val_set,
        train_config,
        seed * 1000 + 17,
        run_dir,
        init,
        label=f"{arm.name} seed {seed}",
        device=device,
        replay=replay,
        replay_share=config.finetune_synthetic_share,
        ema_decay=config.finetune_ema if arm.pretrained else 0.0,
        replay_augment=synthetic_augment(config) if replay is not None else None,
    )
    # Loaded at most once, and only when a score is missing. The control pretraining predicts another
    # scene's classes: it has no dice score of its own.
    best = Predictor(lambda: load_best(run_dir, len(train_set.class_names), config.train, device))
    # A run restored from an archive may have no weights: its cached scores stay as they are.
    scorer = best if _scored_on_real(arm) and (run_dir / "best.pt").is_file() else None
    scoring = _scoring(arm, run_dir, config, real_val, scorer)
    test = cached_score(run_dir / "test.json", real_test, scorer, scoring)
    real_val_score = cached_score(run_dir / "real_val.json", real_val, scorer, scoring)
    return {
        "arm": arm.name,
        "seed": seed,
        "train_images": len(train_set.samples),
        "train_image_ids": train_set.image_ids if arm.uses_real else None,
        "steps": result["steps"],
        "best_step": result["best_step"],
        "best_val_map": result["best_val_map"],
        "train_seconds": result["train_seconds"],
        "stopped_by": "step_cap" if _searched_steps(result) >= config.train.max_steps else "early_stopping",
        "anneal": result.get("anneal"),
        "copied_from": copied_from(run_dir),
        "wall_seconds_this_call": time.perf_counter() - started,
        "curve": result["curve"],
        "test": test,
        "real_val": real_val_score,
        "pseudo_labels": pseudo[1] if pseudo else None,
        "box_factor": scoring.box_factor,
    }


def _searched_steps(result: dict) -> int:
    """Steps before the anneal (all of them without one): what the step cap and patience ended."""
    return result["anneal"]["from_step"] if "anneal" in result else result["steps"]


def _scoring(
    arm: Arm, run_dir: Path, config: BenchmarkConfig, real_val: DetectionSet, predictor: Predictor | None
) -> Scoring:
    """How this run's real-photo predictions are made. Only a run that learned from labelled real photos
    calibrates its boxes: synthetic-only must stay free of real labels."""
    calibration = config.box_calibration if arm.uses_real else "none"
    return Scoring(config.tta, box_factor(run_dir, calibration, config.tta, real_val, predictor))


def _pseudo_labelled(
    arm: Arm,
    seed: int,
    config: BenchmarkConfig,
    device: torch.device,
    unlabelled: DetectionSet,
    real_val: DetectionSet,
) -> tuple[DetectionSet, dict]:
    """(the unlabelled pool photos with the teacher's labels, a summary with their quality), labelled
    once into the run folder: a resumed student trains on the labels it began with.

    The quality is measured where it can be without new labels: the teacher labels the validation
    photos the same way, against their true labels (the teacher picked its checkpoint on them, so this
    flatters it a little; the test photos are never used).
    """
    path = _run_dir(config.out, arm.name, seed) / PSEUDO_LABELS
    if not path.is_file():
        teacher_dir = _run_dir(config.out, arm.teacher, seed)
        if not (teacher_dir / "best.pt").is_file():
            raise UserError(
                f"{teacher_dir}: the teacher of {arm.name} has no weights (best.pt); an archive or a copy "
                "keeps only pretrainings' weights, so retrain it in a folder of its own"
            )
        teacher = load_best(teacher_dir, len(unlabelled.class_names), config.train, device)
        rule = PseudoLabelRule(config.pseudo_min_centre, config.pseudo_min_class)
        labelled = teacher_labels(teacher, unlabelled, rule, config.tta)
        validation = teacher_labels(teacher, real_val, rule, config.tta)
        description = {
            "teacher": arm.teacher,
            "rule": asdict(rule),
            "tta": config.tta,
            "validation_quality": label_quality(validation, real_val),
        }
        save_labels(path, labelled, description)
    pseudo, saved = load_labels(path, unlabelled)
    labels = np.concatenate([s.labels for s in pseudo.samples])
    summary = {
        "images": len(pseudo.samples),
        "objects": int(len(labels)),
        "unread_share": float((labels == UNKNOWN_CLASS).mean()) if len(labels) else 0.0,
        **{key: saved[key] for key in ("teacher", "rule", "tta", "validation_quality")},
    }
    return pseudo, summary


def _adapted_descriptions(
    out: Path, config: BenchmarkConfig, device: torch.device, sources: dict[str, tuple]
) -> dict[str, dict]:
    """Each adapted set's description, with `labels_kept`: how synthetic_only seed 0, trained on the
    plain renders, reads the adapted renders against the originals (`labels_kept.py`; None until that
    run's weights exist). Computed once per adapted set into `labels_kept_<tag>.json`."""
    adapted = {key: source for key, source in sources.items() if key.startswith("adapted:")}
    reader_dir = _run_dir(out, "synthetic_only", 0)
    if "synthetic" not in sources or not (reader_dir / "best.pt").is_file():
        return {key: {**source[2], "labels_kept": None} for key, source in adapted.items()}
    paths = {key: out / f"labels_kept_{key.removeprefix('adapted:')}.json" for key in adapted}
    kept = {key: json.loads(path.read_text()) for key, path in paths.items() if path.exists()}
    stale = [
        key
        for key, source in adapted.items()
        if kept.get(key, {}).get("adapted_folder") != source[2]["folder"]
    ]
    if stale:
        original = _whole(sources["synthetic"])
        reader = load_best(reader_dir, len(original.class_names), config.train, device)
        fresh = reading_kept(original, {key: _whole(adapted[key]) for key in stale}, reader)
        for key in stale:
            kept[key] = {
                **fresh[key],
                "adapted_folder": adapted[key][2]["folder"],
                "reader": "synthetic_only seed 0",
            }
            atomic_write_json(paths[key], kept[key])
    return {key: {**source[2], "labels_kept": kept[key]} for key, source in adapted.items()}


def _whole(source: tuple) -> DetectionSet:
    """A synthetic source's train and validation images as one set, in id order."""
    train, val = source[0], source[1]
    return DetectionSet(
        train.class_names, tuple(sorted(train.samples + val.samples, key=lambda s: s.image_id))
    )


def _draw_predictions(
    arms: list[Arm],
    config: BenchmarkConfig,
    device: torch.device,
    real_test: DetectionSet,
    real_val: DetectionSet,
    out: Path,
) -> tuple[dict[str, dict], str | None]:
    """Seed 0 of each headline arm: its predictions on four test photos (predictions.jpg), and the real
    validation dice it misreads (misreads_<arm>.jpg, see `misreads.py`).

    Returns (arm → misread sheet, the predictions picture or None when no arm could draw one; the report
    then removes an earlier report's picture, so that it never passes for this one's).
    """
    samples = list(real_test.samples[:4])
    subset = DetectionSet(real_test.class_names, tuple(samples))
    rows, sheets = [], {}
    for arm in arms:
        # --report-only: seed 0 of a headline arm may still be training, or be restored from an
        # archive, which keeps no weights of the arms nothing starts from
        run_dir = _run_dir(out, arm.name, 0)
        if arm.family != "headline" or not _finished(out, arm.name, 0) or not (run_dir / "best.pt").is_file():
            continue
        best = Predictor(
            lambda run_dir=run_dir: load_best(run_dir, len(real_test.class_names), config.train, device)
        )
        scoring = _scoring(arm, run_dir, config, real_val, best)
        rows.append((arm.name, samples, scoring.detections(best, subset)))
        sheets[arm.name] = misreads_once(run_dir, best, real_val, scoring, out / f"misreads_{arm.name}.jpg")
    if not rows:
        return sheets, None
    reporting.prediction_grid(rows, real_test.class_names, out / "predictions.jpg")
    return sheets, "predictions.jpg"


def _draw_pseudo_labels(
    arms: list[Arm], real_train: DetectionSet, out: Path, count: int = 6
) -> dict[str, str]:
    """Each self-training arm's seed 0 labels of its first `count` unlabelled photos
    (pseudo_labels_<arm>.jpg; drawn from the saved labels, no model). Returns arm → file name."""
    sheets = {}
    for arm in arms:
        path = _run_dir(out, arm.name, 0) / PSEUDO_LABELS
        if not arm.teacher or not path.is_file():
            continue
        labels, _ = read_labels(path)
        first = real_train.subset(sorted(labels)[:count])
        sheets[arm.name] = f"pseudo_labels_{arm.name}.jpg"
        reporting.pseudo_label_sheet(with_labels(path, labels, first), out / sheets[arm.name])
    return sheets
