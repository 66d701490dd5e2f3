"""`scenesmith` command line. Bad input exits with code 2 and one short message, never a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scenesmith.errors import UserError
from scenesmith.procedural.loader import SceneRuleError
from scenesmith.render.pool import DescriptionRejected, RenderFailed
from scenesmith.threads import limit_threads

if TYPE_CHECKING:
    from scenesmith.benchmark.config import BenchmarkConfig


# What a dataset folder holds (annotate/FORMAT.md): an output path among them would overwrite labels.
_DATASET_PARTS = frozenset({"annotations.json", "manifest.json", "meta", "images", "masks", "depth"})


def _output_path(text: str, folder: bool) -> Path:
    """An output path that can be written, checked before any work is done: the work (renders, a
    classifier) used to run first and end on "File exists" naming a temp file. A path among a
    dataset's own files is refused too: `sheet --out DATASET/annotations.json` replaced the labels."""
    path = Path(text)
    if folder and path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: is a file, expected a folder")
    if not folder and path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, expected a file path")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, expected a folder")
            break
    for dataset in path.absolute().parents:
        if (dataset / "manifest.json").is_file() and (dataset / "meta").is_dir():
            part = path.absolute().relative_to(dataset).parts[0]
            if part in _DATASET_PARTS:
                raise argparse.ArgumentTypeError(f"{text}: would write over the {part} of dataset {dataset}")
    return path


def _output_file(text: str) -> Path:
    return _output_path(text, folder=False)


def _output_folder(text: str) -> Path:
    return _output_path(text, folder=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _render_size(text: str) -> int:
    """A render's side in pixels, in the bounds the scene rules take (8 to 8192): refused here in the
    flag's own terms, not as a `render.resolution[0]` the user never typed."""
    value = _positive_int(text)
    if not 8 <= value <= 8192:
        raise argparse.ArgumentTypeError(f"expected 8 to 8192 pixels, got {value}")
    return value


def _png_file(text: str) -> Path:
    path = _output_file(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text}: expected a .png file name (the sheet is written as PNG)")
    return path


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _percent(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 100:  # nan fails this too
        raise argparse.ArgumentTypeError(f"expected a percentage above 0 and at most 100, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _number(text)
    if not 0 <= value < float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _zero_to_one(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 up to (not including) 1, got {text!r}")
    return value


def _box_padding(text: str) -> float:
    """A padding `BoxConvention` accepts; its own check sets the limits, argparse words the error."""
    from scenesmith.annotate.box_convention import BoxConvention

    try:
        return BoxConvention(padding=float(text)).padding
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected a fraction of the box side in [0, 1], got {text!r}"
        ) from error


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _resolution(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT in the scene rules' bounds (8 to 8192 each), refused in the flag's own terms."""
    width, sep, height = text.lower().partition("x")
    if (
        not sep
        or not width.isdigit()
        or not height.isdigit()
        or not all(8 <= int(side) <= 8192 for side in (width, height))
    ):
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, each 8 to 8192 (e.g. 640x480), got {text!r}"
        )
    return int(width), int(height)


def _samples(text: str) -> int:
    """Cycles samples per pixel in the scene rules' bounds (1 to 65,536), refused in the flag's terms."""
    value = _positive_int(text)
    if value > 65536:
        raise argparse.ArgumentTypeError(f"expected 1 to 65536 samples, got {value}")
    return value


def _add_scene_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scene", help="built-in scene name (see `scenesmith scenes`) or path to a scene YAML")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a rule, e.g. --set objects.dice.count=5 (value parsed as YAML); repeatable",
    )


def _add_render_arguments(
    parser: argparse.ArgumentParser, device: str = "auto", device_help: str = "render device (default auto)"
) -> None:
    parser.add_argument("--resolution", type=_resolution, help="WIDTHxHEIGHT (default: the scene's)")
    parser.add_argument("--samples", type=_samples, help="Cycles samples per pixel (default: the scene's)")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default=device, help=device_help)
    parser.add_argument(
        "--preset", choices=["draft", "standard", "final"], help="quality: sample cap, adaptive, denoise"
    )


def _cmd_scenes(args: argparse.Namespace) -> int:
    from scenesmith.procedural.loader import builtin_scenes

    for name, summary in builtin_scenes().items():
        print(f"{name:20s} {summary}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from scenesmith.pipeline import build_image
    from scenesmith.procedural.loader import load_scene

    loaded = load_scene(args.scene, args.overrides)
    counts = [len(build_image(loaded, 0, index).labelled_objects) for index in range(args.images)]
    shown = f"{counts[0]}" if len(set(counts)) == 1 else f"{min(counts)}–{max(counts)}"
    images = "image 0 of seed 0 has" if args.images == 1 else f"images 0–{args.images - 1} of seed 0 have"
    categories = len(loaded.rules.categories)
    print(f"{loaded.source}: valid ({categories} categories; {images} {shown} labelled objects)")
    return 0


def _render_overrides(args: argparse.Namespace) -> list[str]:
    return render_overrides_for(args, args.resolution)


def render_overrides_for(args: argparse.Namespace, resolution: tuple[int, int] | None) -> list[str]:
    """The --preset, --set and --samples overrides of `args` at `resolution`, the last winning."""
    from scenesmith.pipeline import render_overrides

    return render_overrides(resolution, args.samples, args.preset, user=args.overrides)


def _pool_config(args: argparse.Namespace):
    from scenesmith.render.pool import PoolConfig

    return PoolConfig(
        workers=args.workers,
        recycle_after=args.recycle_after,
        max_rss_mb=args.max_worker_rss,
        timeout_s=args.image_timeout,
    )


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("render workers")
    group.add_argument(
        "--workers", type=_positive_int, help="render processes (default: one per GPU found, else 1)"
    )
    group.add_argument(
        "--recycle-after", type=_non_negative_int, default=0, help="new worker after N images (0: never)"
    )
    group.add_argument(
        "--max-worker-rss",
        type=_non_negative_float,
        default=0.0,
        metavar="MB",
        help="new worker above this RSS (0: never)",
    )
    group.add_argument(
        "--image-timeout",
        type=_positive_float,
        default=600.0,
        metavar="S",
        help="a worker silent this long is hung",
    )
    group.add_argument("--backend", choices=["local", "ray"], default="local", help="where workers run")
    group.add_argument("--address", help="Ray cluster address (--backend ray; default: start a local Ray)")


def _cmd_generate(args: argparse.Namespace) -> int:
    from scenesmith.pipeline import generate_dataset
    from scenesmith.procedural.loader import parse_override

    fixed = args.samples is not None or any(
        parse_override(o)[0] == ["render", "samples"] for o in args.overrides
    )
    if args.time_budget is not None and fixed:
        # The calibrated count came after the user's and won without a word.
        raise UserError(
            "--time-budget picks the sample count itself: give it or --samples (render.samples), not both"
        )
    out = generate_dataset(
        scene=args.scene,
        overrides=_render_overrides(args),
        count=args.count,
        seed=args.seed,
        out_dir=Path(args.out),
        image_format=args.image_format,
        device=args.device,
        progress=not args.quiet,
        pool=_pool_config(args),
        backend=args.backend,
        address=args.address,
        time_budget=args.time_budget,
    )
    print(f"dataset: {out.resolve()}  (COCO: {(out / 'annotations.json').resolve()})")
    _say_if_unfinished(out, args.count)
    return 0


def _say_if_unfinished(out: Path, count: int) -> None:
    """A count smaller than the dataset's renders only the first images (a benchmark asks a bigger
    cached set for its first N): say that the dataset itself is still unfinished, and how to finish it."""
    from scenesmith.annotate.atomic import read_json
    from scenesmith.annotate.dataset_writer import completed_indices
    from scenesmith.pipeline import MANIFEST

    manifest = read_json(out / MANIFEST)
    if manifest.get("status") != "complete":
        total, held = manifest.get("count", count), len(completed_indices(out))
        print(
            f"scenesmith: note: the first {count} images are done, but the dataset was begun with --count "
            f"{total} and holds {held} of them; rerun with --count {total} to finish it",
            file=sys.stderr,
        )


def _cmd_sheet(args: argparse.Namespace) -> int:
    from scenesmith.annotate.contact_sheet import make_contact_sheet

    dataset = Path(args.dataset)
    if not (dataset / "meta").is_dir():
        raise UserError(f"{dataset}: not a scenesmith dataset (no meta/ folder)")
    path = make_contact_sheet(dataset, Path(args.out), max_images=args.max_images)
    print(f"contact sheet: {Path(path).resolve()}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import yaml

    from scenesmith.annotate.box_convention import BoxConvention
    from scenesmith.annotate.yolo import export_yolo

    dataset = Path(args.dataset)
    if not (dataset / "annotations.json").is_file():
        raise UserError(f"{dataset}: not a finished scenesmith dataset (no annotations.json)")
    convention = BoxConvention(square=args.square_boxes, padding=args.box_padding)
    out = export_yolo(dataset, Path(args.out), convention=convention, crowd=args.crowd, copy=args.copy)
    print(f"YOLO dataset: {Path(out).resolve()}")
    crowd = yaml.safe_load(out.read_text())["crowd"]
    if crowd["objects"] and crowd["policy"] == "skip":
        print(
            f"{crowd['objects']} crowd objects (class ambiguous, e.g. tilted dice) are left unlabelled; "
            "--crowd label or --crowd erase to change that"
        )
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from scenesmith.annotate.stats import run_stats

    if args.split is not None and args.against is None:
        raise UserError("--split selects images of the --against COCO file; give --against too")
    report = run_stats(
        Path(args.dataset),
        against=Path(args.against) if args.against else None,
        split=args.split,
        out_dir=Path(args.out) if args.out else None,
    )
    print(report.table)
    print(f"stats: {report.json_path.resolve()}")
    print(f"plots: {', '.join(p.name for p in report.plots)}")
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from scenesmith.preview import preview

    out = preview(
        args.scene, Path(args.out), args.overrides, args.count, args.seed, args.size, device=args.device
    )
    print(f"preview: {out.resolve()}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from scenesmith.preview import sweep

    out = sweep(
        args.scene, args.vary, args.values, Path(args.out), args.overrides, args.count, args.seed, args.size,
        device=args.device,
    )  # fmt: skip
    print(f"sweep: {out.resolve()}")
    return 0


def _cmd_bench_render(args: argparse.Namespace) -> int:
    from scenesmith.benchmark import scale_bench
    from scenesmith.benchmark.render_bench import run_render_benchmark

    overrides = _render_overrides(args)
    result = {
        "machine": scale_bench.machine(),
        "stages": run_render_benchmark(args.scene, overrides, args.count, args.seed, args.device),
        "overhead": scale_bench.overhead(args.scene, overrides, args.count + 1, args.seed, args.device),
    }
    if args.memory_images:
        size = args.memory_resolution or args.resolution
        memory_overrides = render_overrides_for(args, size)
        result["memory"] = scale_bench.memory(
            args.scene, memory_overrides, args.memory_images, args.seed, args.device
        )
    _print_and_save(result, args.json)
    return 0


def _cmd_bench_kills(args: argparse.Namespace) -> int:
    from scenesmith.benchmark import scale_bench

    result = scale_bench.kills(
        args.scene, _render_overrides(args), args.count, args.kills, Path(args.out), args.seed, args.device
    )
    result["machine"] = scale_bench.machine()
    _print_and_save(result, args.json)
    return 0 if result["exit_code"] == 0 and result["unique_ids"] == args.count else 1


def _print_and_save(result: dict, path: str | None) -> None:
    print(json.dumps(result, indent=2))
    if path:
        from scenesmith.annotate.atomic import atomic_write_json

        atomic_write_json(Path(path), result)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from scenesmith.doctor import BpyUnavailable, print_report, run_doctor

    try:
        report = run_doctor(device=args.device, size=args.size)
    except BpyUnavailable as exc:
        print(f"scenesmith: error: {exc}", file=sys.stderr)
        return 1
    print_report(report)
    if args.json:
        from scenesmith.annotate.atomic import atomic_write_json

        atomic_write_json(Path(args.json), report)
    if args.device == "gpu" and report["selected"]["device"] != "GPU":  # as `generate --device gpu` says
        print(
            "scenesmith: error: --device gpu: no usable Cycles GPU was found; the timing above is the "
            "CPU's (see the devices found and the drivers' messages)",
            file=sys.stderr,
        )
        return 1
    return 0


def benchmark_config(args: argparse.Namespace) -> BenchmarkConfig:
    """The run settings that `scenesmith benchmark`'s flags ask for (torch-free, so it can be checked)."""
    from scenesmith.annotate.box_convention import BoxConvention
    from scenesmith.benchmark.augment import AugmentConfig
    from scenesmith.benchmark.config import BenchmarkConfig, TrainConfig

    train = TrainConfig(
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        patience=args.patience,
        min_steps=min(args.min_steps, args.max_steps),
        anneal_steps=args.anneal_steps,
        batch=args.batch,
        augment=AugmentConfig(crop=args.crop),
        **({"learning_rate": args.learning_rate} if args.learning_rate else {}),
    )
    return BenchmarkConfig(
        real=Path(args.real) if args.real else None,
        real_train=Path(args.real_train) if args.real_train else None,
        real_test=Path(args.real_test) if args.real_test else None,
        scene=args.scene,
        synthetic=args.synthetic,
        out=Path(args.out),
        synthetic_seed=args.synthetic_seed,
        resolution=args.resolution,
        samples=args.samples,
        synthetic_overrides=tuple(args.overrides),
        control_scene=None if args.control_scene == "none" else args.control_scene,
        seeds=args.seeds,
        sweep=args.sweep,
        val_count=args.val_count,
        fraction=args.fraction / 100,
        arms=tuple(args.arms.split(",")) if args.arms else (),
        device=args.device,
        adapters=tuple(Path(a) for a in args.adapters),
        synthetic_boxes=BoxConvention(square=args.synthetic_square_boxes, padding=args.synthetic_box_padding),
        real_arms_from=Path(args.real_arms_from) if args.real_arms_from else None,
        pretrainings_from=Path(args.pretrainings_from) if args.pretrainings_from else None,
        finetune_learning_rate=args.finetune_learning_rate,
        finetune_synthetic_share=args.finetune_synthetic_share,
        finetune_ema=args.finetune_ema,
        self_train=args.self_train,
        pseudo_min_centre=args.pseudo_min_centre,
        pseudo_min_class=args.pseudo_min_class,
        student_augment=args.student_augment,
        student_init=args.student_init,
        synthetic_augment=args.synthetic_augment,
        tta=args.tta,
        box_calibration=args.box_calibration,
        report_only=args.report_only,
        train=train,
    )


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import shlex

    from scenesmith.benchmark.runner import run_benchmark

    config = benchmark_config(args)
    command = "scenesmith " + " ".join(shlex.quote(a) for a in args.argv)
    report = run_benchmark(config, command)
    print(f"benchmark: {(config.out / 'report.md').resolve()}")
    for key, value in report["headline"].items():
        print(f"  {key}: {value.get('text', value.get('value'))}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from scenesmith.annotate.atomic import atomic_write_json
    from scenesmith.benchmark.compare import compare_reports, load_report, markdown

    before, after = Path(args.before), Path(args.after)
    comparison = compare_reports(load_report(before), load_report(after))
    print(markdown(comparison, str(before), str(after)), end="")
    if args.json:
        atomic_write_json(Path(args.json), comparison)
    return 0


def _cmd_archive(args: argparse.Namespace) -> int:
    from scenesmith.benchmark.archive import archive_runs, restore_runs

    run, archive = Path(args.run_folder), Path(args.archive)
    if args.restore:
        restored = restore_runs(archive, run)
        print(f"restored {len(restored)} finished runs from {archive} into {run}", *restored)
    else:
        copied = archive_runs(run, archive)
        print(f"archived {len(copied)} finished runs of {run} in {archive}", *copied)
    return 0


def _add_benchmark_parser(commands: argparse._SubParsersAction) -> None:
    from functools import partial

    from scenesmith.benchmark.augment import AUGMENT_PRESETS, TEST_TIME_AUGMENTATIONS
    from scenesmith.benchmark.config import BenchmarkConfig, TrainConfig, default_of

    run_default = partial(default_of, BenchmarkConfig)
    train_default = partial(default_of, TrainConfig)

    p = commands.add_parser(
        "benchmark", help="sim-to-real detector benchmark: synthetic pretraining + real fraction vs all real"
    )
    p.add_argument("--real", help="real COCO file (or its folder) whose images carry 'split'")
    p.add_argument("--real-train", help="real training COCO file (instead of --real)")
    p.add_argument("--real-test", help="real test COCO file (instead of --real)")
    p.add_argument("--scene", default=run_default("scene"), help="scene for the synthetic pretraining set")
    p.add_argument(
        "--synthetic",
        type=_positive_int,
        default=run_default("synthetic"),
        help="synthetic images to render and use (on dice, 240 trained worse than 120 within the step cap)",
    )
    p.add_argument("--synthetic-seed", type=_non_negative_int, default=run_default("synthetic_seed"))
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a rule of --scene for the synthetic set; repeatable",
    )
    p.add_argument(
        "--resolution", type=_resolution, default=run_default("resolution"), help="synthetic render size"
    )
    p.add_argument(
        "--samples",
        type=_samples,
        default=run_default("samples"),
        help="Cycles samples of the synthetic renders",
    )
    p.add_argument(
        "--synthetic-square-boxes",
        action="store_true",
        help="train on square synthetic boxes (long side about the centre), as some real sets are labelled",
    )
    p.add_argument(
        "--synthetic-box-padding",
        type=_box_padding,
        default=run_default("synthetic_boxes").padding,
        help="grow each synthetic box side by this fraction on both ends (match the real labels' margin)",
    )
    p.add_argument(
        "--synthetic-augment",
        choices=sorted(AUGMENT_PRESETS),
        default=run_default("synthetic_augment"),
        help="augmentation of rendered images in pretrainings and fine-tune replay (strong: any hue, "
        "greyscale, heavier blur and noise, JPEG, resolution loss; standard: the real photos' own); "
        "real photos always take the standard one",
    )
    p.add_argument(
        "--tta",
        choices=TEST_TIME_AUGMENTATIONS,
        default=run_default("tta"),
        help="test-time augmentation of the real-photo scores (dihedral: maps averaged over the 8 turns "
        "and flips; none: the photo as it is). Changes no training: finished runs are re-scored "
        "from their checkpoints",
    )
    p.add_argument(
        "--box-calibration",
        choices=("none", "validation"),
        default=run_default("box_calibration"),
        help="validation: every run with labelled real photos rescales its boxes about their centres by "
        "one factor fitted on the real validation photos (the annotators' box convention; synthetic-only "
        "keeps its boxes). Changes no training: finished runs are re-scored from their checkpoints",
    )
    p.add_argument(
        "--real-arms-from",
        metavar="RUN",
        help="copy the finished real-only runs (real_100, real_10, ...) of an earlier run folder instead of "
        "retraining them; its settings must match except the synthetic ones (scene rules, render, boxes)",
    )
    p.add_argument(
        "--pretrainings-from",
        metavar="RUN",
        help="copy the finished pretrainings (synthetic_only, control_only) of an earlier run folder instead "
        "of retraining them; its settings must match except the fine-tune ones (--finetune-*)",
    )
    p.add_argument(
        "--learning-rate",
        type=_positive_float,
        metavar="LR",
        help="learning rate of the pretrainings and the real-only arms (default: the trainer's, shown in "
        "the report; fine-tunes take --finetune-learning-rate, whatever this is); the real-only baselines "
        "deserve the same tuning on validation",
    )
    p.add_argument(
        "--finetune-learning-rate",
        type=_positive_float,
        metavar="LR",
        default=run_default("finetune_learning_rate"),
        help=f"learning rate of the arms that fine-tune a pretraining (default "
        f"{run_default('finetune_learning_rate')}; --learning-rate's default is "
        f"{train_default('learning_rate')}; give the pretraining's rate to fine-tune at it)",
    )
    p.add_argument(
        "--finetune-synthetic-share",
        type=_zero_to_one,
        default=run_default("finetune_synthetic_share"),
        metavar="S",
        help="share of each fine-tune batch drawn from its pretraining's synthetic train set (0 to <1; "
        f"default {run_default('finetune_synthetic_share')}; 0: real images only; control fine-tunes never "
        "replay)",
    )
    p.add_argument(
        "--finetune-ema",
        type=_zero_to_one,
        default=run_default("finetune_ema"),
        metavar="DECAY",
        help="score and keep an exponential moving average of the fine-tunes' weights with this decay per "
        "step (0 to <1, e.g. 0.999; default 0: the last step's weights)",
    )
    p.add_argument(
        "--self-train",
        action="store_true",
        help="add the arm synthetic_to_<fraction>_selftrain: synthetic → the fraction's draw plus the pool's "
        "other photos, unlabelled, which synthetic_to_<fraction> (same seed) labels; it uses no more "
        "labelled real images than that arm",
    )
    p.add_argument(
        "--pseudo-min-centre",
        type=_zero_to_one,
        default=run_default("pseudo_min_centre"),
        metavar="P",
        help="self-training keeps the teacher's objects whose centre probability is at least P "
        f"(default {run_default('pseudo_min_centre')})",
    )
    p.add_argument(
        "--pseudo-min-class",
        type=_zero_to_one,
        default=run_default("pseudo_min_class"),
        metavar="P",
        help="and reads their face when its probability is at least P (an unread die trains where it is) "
        f"(default {run_default('pseudo_min_class')})",
    )
    p.add_argument(
        "--student-augment",
        choices=sorted(AUGMENT_PRESETS),
        default=run_default("student_augment"),
        help="augmentation of the self-training student's photos (strong: Noisy Student, the student "
        "noised harder than its teacher, which labels clean photos)",
    )
    p.add_argument(
        "--student-init",
        choices=("pretraining", "teacher"),
        default=run_default("student_init"),
        help="the self-training student starts from synthetic_only (as its teacher did) or from its teacher",
    )
    p.add_argument(
        "--control-scene",
        default=run_default("control_scene"),
        help="unrelated scene for the pretraining control arm ('none' to skip it)",
    )
    p.add_argument(
        "--seeds",
        type=_positive_int,
        default=run_default("seeds"),
        help="seeds (draws of the real subset) per arm",
    )
    p.add_argument("--sweep", action="store_true", help="also run real fractions 1,5,10,25,50,100%%")
    p.add_argument(
        "--fraction",
        type=_percent,
        default=100 * run_default("fraction"),
        help="headline real fraction in percent, above 0 and at most 100",
    )
    p.add_argument(
        "--val-count",
        type=_positive_int,
        default=run_default("val_count"),
        help="real train images for validation",
    )
    p.add_argument("--arms", help="comma-separated subset of arms (their pretrainings run too)")
    p.add_argument(
        "--max-steps", type=_positive_int, default=train_default("max_steps"), help="step cap per arm"
    )
    p.add_argument(
        "--min-steps",
        type=_non_negative_int,
        default=train_default("min_steps"),
        help="no early stopping before this step",
    )
    p.add_argument(
        "--eval-every",
        type=_positive_int,
        default=train_default("eval_every"),
        help="steps between validation scores",
    )
    p.add_argument(
        "--patience",
        type=_positive_int,
        default=train_default("patience"),
        help="evals without gain (after --min-steps) to stop",
    )
    p.add_argument(
        "--anneal-steps",
        type=_non_negative_int,
        default=train_default("anneal_steps"),
        help="after each arm stops: steps from its best weights, rate falling to zero (0: none)",
    )
    p.add_argument("--batch", type=_positive_int, default=train_default("batch"))
    p.add_argument(
        "--crop",
        type=_positive_int,
        default=train_default("augment").crop,
        help="training crop size at native resolution",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=run_default("device"))
    p.add_argument(
        "--adapter",
        dest="adapters",
        action="append",
        default=[],
        metavar="MODEL",
        help="adapter folder (`scenesmith adapt train`): adds adapted_<name>_only and _to_<fraction> arms",
    )
    p.add_argument("--out", required=True, help="run folder (rerun the same command to resume)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="write OUT/report.* from the runs finished so far (same command otherwise); trains nothing",
    )
    p.set_defaults(run=_cmd_benchmark, resumes=True)

    p = commands.add_parser(
        "archive",
        help="keep a benchmark run folder's finished scores (and its pretrainings' weights) somewhere small",
    )
    p.add_argument("run_folder", metavar="RUN", help="benchmark run folder (--out)")
    p.add_argument("archive", help="archive folder, e.g. one committed beside the published results")
    p.add_argument(
        "--restore",
        action="store_true",
        help="copy the other way: archived runs RUN has not finished go into RUN, where the same benchmark "
        "command (or --report-only) takes them as finished",
    )
    p.set_defaults(run=_cmd_archive)

    p = commands.add_parser(
        "compare", help="paired per-seed comparison of two benchmark runs (e.g. before/after a rules change)"
    )
    p.add_argument("before", help="benchmark run folder (or its report.json)")
    p.add_argument("after", help="benchmark run folder (or its report.json)")
    p.add_argument("--json", type=_output_file, help="also write the comparison to this JSON file")
    p.set_defaults(run=_cmd_compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenesmith", description=__doc__)
    parser.add_argument(
        "--threads",
        type=_positive_int,
        help="CPU threads for torch work (benchmark, adapt, gap); default: one per core. "
        "Give each of several concurrent commands its share, e.g. 1 per process on 2 cores",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("scenes", help="list built-in scenes")
    p.set_defaults(run=_cmd_scenes)

    p = commands.add_parser("validate", help="check a scene file (and overrides) without rendering")
    _add_scene_arguments(p)
    p.add_argument(
        "--images",
        type=_positive_int,
        default=1,
        help="build this many images' scenes (seed 0): values drawn per image can fail on later images",
    )
    p.set_defaults(run=_cmd_validate)

    p = commands.add_parser("generate", help="render a labelled dataset (resumes an interrupted run)")
    _add_scene_arguments(p)
    _add_render_arguments(p)
    p.add_argument("--count", type=_positive_int, required=True, help="number of images")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="dataset seed")
    p.add_argument("--out", type=_output_folder, required=True, help="output folder")
    p.add_argument("--image-format", choices=["png", "jpg"], default="png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--time-budget", type=_positive_float, metavar="S", help="pick samples for S seconds per image"
    )
    _add_worker_arguments(p)
    p.set_defaults(run=_cmd_generate, resumes=True)

    p = commands.add_parser("sheet", help="contact sheet of a dataset with masks and boxes drawn")
    p.add_argument("dataset")
    p.add_argument("--out", type=_output_file, required=True, help="PNG to write")
    p.add_argument("--max-images", type=_positive_int, default=16)
    p.set_defaults(run=_cmd_sheet)

    p = commands.add_parser("export", help="convert a dataset to another format")
    formats = p.add_subparsers(dest="format", required=True)
    y = formats.add_parser("yolo", help="YOLO detection format (labels/*.txt + data.yaml)")
    y.add_argument("dataset")
    y.add_argument("out")
    y.add_argument(
        "--square-boxes",
        action="store_true",
        help="square boxes (long side about the centre), as some sets are labelled",
    )
    y.add_argument(
        "--box-padding",
        type=_box_padding,
        default=0.0,
        help="grow each box side by this fraction on both ends (your real labels' margin)",
    )
    y.add_argument(
        "--crowd",
        choices=("skip", "label", "erase"),
        default="skip",
        help="iscrowd objects (YOLO has no ignore regions): leave unlabelled (default), label with "
        "their guessed class, or erase them from the exported images",
    )
    y.add_argument(
        "--copy",
        action="store_true",
        help="copy the images instead of linking them (relative symlinks into the dataset, the default, "
        "break when the export is moved to another machine without its dataset)",
    )
    y.set_defaults(run=_cmd_export)

    p = commands.add_parser("stats", help="dataset statistics, and distances to a real COCO set")
    p.add_argument("dataset", help="scenesmith dataset folder, or a COCO json (images relative to it)")
    p.add_argument(
        "--against",
        metavar="REAL_COCO",
        help="real COCO json (or its folder) to compare with; a scenesmith dataset folder works too",
    )
    p.add_argument(
        "--split",
        help="use only --against images whose `split` is this (default: train, or every image when the "
        "file has no split field; 'all': every image)",
    )
    p.add_argument(
        "--out", type=_output_folder, help="output folder for stats.json and plots (default: DATASET/stats)"
    )
    p.set_defaults(run=_cmd_stats)

    p = commands.add_parser("preview", help="low-sample labelled contact sheet of a scene, in seconds")
    _add_scene_arguments(p)
    p.add_argument("--out", type=_png_file, required=True, help="PNG to write")
    p.add_argument("--count", type=_positive_int, default=8)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument(
        "--size",
        type=_render_size,
        default=192,
        help="long side of each render in pixels (the scene's aspect kept)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    p.set_defaults(run=_cmd_preview)

    p = commands.add_parser("sweep", help="vary one rule, hold the rest: one labelled row per value")
    _add_scene_arguments(p)
    p.add_argument("--vary", required=True, metavar="KEY.PATH", help="the rule to vary, e.g. camera.tilt_deg")
    p.add_argument("--values", required=True, nargs="+", help="values (YAML), e.g. 0 10 20")
    p.add_argument("--out", type=_png_file, required=True, help="PNG to write")
    p.add_argument("--count", type=_positive_int, default=4, help="images per value")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument(
        "--size",
        type=_render_size,
        default=192,
        help="long side of each render in pixels (the scene's aspect kept)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    p.set_defaults(run=_cmd_sweep)

    p = commands.add_parser("bench", help="benchmarks that print numbers")
    benches = p.add_subparsers(dest="bench", required=True)
    b = benches.add_parser("render", help="seconds per image by stage, images/s, peak RSS")
    b.add_argument("--scene", default="dice_tray")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    _add_render_arguments(b)
    b.add_argument("--count", type=_positive_int, default=5, help="timed images (after one warm-up)")
    b.add_argument("--seed", type=_non_negative_int, default=0)
    b.add_argument(
        "--memory-images", type=_non_negative_int, default=0, help="worker RSS over N images (0: skip)"
    )
    b.add_argument(
        "--memory-resolution", type=_resolution, help="resolution of the RSS run (default: --resolution)"
    )
    b.add_argument("--json", type=_output_file, help="also write the numbers to this JSON file")
    b.set_defaults(run=_cmd_bench_render)
    k = benches.add_parser("kills", help="SIGKILL the render worker of a generate run; audit the dataset")
    k.add_argument("--scene", default="dice_tray")
    k.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    _add_render_arguments(k, "cpu", "render device (default cpu: the kill timing assumes one render worker)")
    k.add_argument("--count", type=_positive_int, default=1000)
    k.add_argument("--kills", type=_positive_int, default=2)
    k.add_argument("--seed", type=_non_negative_int, default=0)
    k.add_argument("--out", required=True, help="dataset folder (must not exist yet)")
    k.add_argument("--json", type=_output_file, help="also write the numbers to this JSON file")
    k.set_defaults(run=_cmd_bench_kills)
    _add_benchmark_parser(commands)

    p = commands.add_parser("doctor", help="bpy version, Cycles devices, threads and one timed draft render")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto", help="device to time")
    p.add_argument("--size", type=_render_size, default=128, help="timed render size in pixels (square)")
    p.add_argument("--json", type=_output_file, help="also write the report to this JSON file")
    p.set_defaults(run=_cmd_doctor)

    from scenesmith.api.cli import add_api_parsers  # serve, submit, status, cancel, fetch, bench api

    add_api_parsers(commands, benches)
    from scenesmith.domain_adapt.cli import add_adapt_parsers  # adapt train, apply, check

    add_adapt_parsers(commands)
    from scenesmith.domain_adapt.gap_cli import add_gap_parser

    add_gap_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point. User errors → exit 2 with a message on stderr."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.threads:
        limit_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="scenesmith: %(message)s")
    run: Callable[[argparse.Namespace], int] = args.run
    # Only where a rerun goes on from what was kept (set on those commands' parsers).
    resume = "; rerun the same command to resume" if getattr(args, "resumes", False) else ""
    # From the main thread only (signal's rule): main() called from another thread keeps the default.
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        code = run(args)
    except (UserError, SceneRuleError) as exc:
        print(f"scenesmith: error: {exc}", file=sys.stderr)
        code = 2
    except OSError as exc:  # unwritable --out, full disk, unreadable dataset: the user's to fix
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"scenesmith: error: {where}{exc.strerror or exc}", file=sys.stderr)
        code = 2
    except DescriptionRejected as exc:  # the same rules and seed give the same description: a rerun fails too
        print(f"scenesmith: error: {exc}; change the scene rules (finished images are kept)", file=sys.stderr)
        code = 2
    except RenderFailed as exc:  # every finished image is on disk; the message names the one that failed
        print(f"scenesmith: render failed: {exc}{resume}", file=sys.stderr)
        code = 1
    except Terminated:
        print(f"scenesmith: terminated{resume}", file=sys.stderr)
        code = 143
    except KeyboardInterrupt:
        print(f"scenesmith: interrupted{resume}", file=sys.stderr)
        code = 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    raise SystemExit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's time limit, `docker stop`), raised like Ctrl-C so that every
    `finally` runs: workers are stopped and the run's wall time is recorded."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated
