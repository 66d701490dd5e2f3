"""`scenesmith adapt train | apply | check`: fit a sim→real adapter, apply it, audit the result."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from pathlib import Path

from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.annotate.writer_lock import WRITER_LOCK, exclusive_writer
from scenesmith.domain_adapt.adapter import REAL_SOURCE_FILE
from scenesmith.errors import UserError


def _option(text: str) -> tuple[str, int | float | str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option {text!r}: expected KEY=VALUE")
    for kind in (int, float):
        try:
            number = kind(value)
        except ValueError:
            continue
        if not math.isfinite(number):  # nan passes every `< 0` check and trains into black images
            raise argparse.ArgumentTypeError(f"--option {text!r}: expected a finite number")
        return key, number
    return key, value


def _cmd_train(args: argparse.Namespace) -> int:
    from scenesmith.domain_adapt.adapter import FitInputs, fitter
    from scenesmith.domain_adapt.images import image_paths, real_training_paths, semantic_mask_paths

    out = Path(args.out)
    _require_new_folder(out)
    synthetic = image_paths(args.synthetic)
    inputs = FitInputs(
        synthetic_images=tuple(synthetic),
        synthetic_masks=semantic_mask_paths(synthetic),
        real_images=tuple(real_training_paths(args.real, args.split)),
        seed=args.seed,
        options=dict(args.options),
        device=args.device,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    # Learned methods checkpoint into `work` (kept beside --out, so a rerun resumes); the finished
    # adapter appears at --out in one rename, never half-written. One work folder per method: another
    # method's interrupted fit there is neither resumed nor copied into this adapter.
    # A second fit of the same --out is refused while this one runs: both would resume from and
    # overwrite one checkpoint, and the first to finish would delete the work folder under the other.
    # A fit refused before any checkpoint (e.g. a bad --option) leaves no work folder behind.
    work = out.with_name(f"{out.name}.{args.method}.partial")
    with exclusive_writer(work):
        _require_new_folder(out)  # again: another fit of it may have finished meanwhile
        adapter = fitter(args.method)(inputs, work)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
            staged = Path(tmp) / "adapter"
            shutil.copytree(work, staged, ignore=shutil.ignore_patterns(WRITER_LOCK))
            adapter.save(staged)
            _record_real_source(staged, args.real, args.split, inputs.real_images)
            staged.rename(out)
        shutil.rmtree(work)
    print(f"adapter ({args.method}): {out.resolve()}")
    return 0


def _require_new_folder(out: Path) -> None:
    """An adapter goes into a new (or empty) folder: it is renamed into place whole."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not empty; an adapter needs a new folder")


def _record_real_source(folder: Path, real: str, split: str, images: tuple[Path, ...]) -> None:
    """Which real images the adapter learned from (`real_source.json` in its folder): a count alone
    cannot show afterwards that no test photo was among them."""
    record = {"path": str(Path(real).resolve()), "split": split, "images": [str(p.resolve()) for p in images]}
    atomic_write_json(folder / REAL_SOURCE_FILE, record)


def _cmd_apply(args: argparse.Namespace) -> int:
    from scenesmith.domain_adapt.apply import apply_adapter

    out = apply_adapter(Path(args.model), Path(args.dataset), Path(args.out), seed=args.seed)
    print(f"adapted dataset: {out.resolve()}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from scenesmith.domain_adapt.alignment import label_alignment
    from scenesmith.domain_adapt.images import image_paths, real_training_paths
    from scenesmith.domain_adapt.nocopy import check_no_copies

    adapted = Path(args.adapted)
    if args.original and not (Path(args.original) / "meta").is_dir():  # before the scan, not after it
        raise UserError(f"--original {args.original}: not a scenesmith dataset folder (no meta/)")
    report = {"no_copy": check_no_copies(image_paths(adapted), real_training_paths(args.real, args.split))}
    if args.original:
        report["label_alignment"] = label_alignment(Path(args.original), adapted)
    if args.json:  # first: the report is kept whatever the summary lines below say
        atomic_write_json(Path(args.json), report)
    copies = len(report["no_copy"]["near_copies"])
    print(f"near-copies of real training images: {copies} of {report['no_copy']['adapted_images']}")
    if "label_alignment" in report:
        alignment = report["label_alignment"]
        print(
            "label alignment (adapted ÷ original edge agreement): "
            + _ratio(alignment["ratio"], "the original images show no edge on any outline")
        )
        print(
            "outline contrast (adapted ÷ original gradient on outlines): "
            + _ratio(alignment["outline_contrast_ratio"], "the original outlines have no contrast")
        )
    if not args.json:
        print(json.dumps(report, indent=2))
    return 1 if copies else 0


def _ratio(value: float | None, why_none: str) -> str:
    return f"{value:.3f}" if value is not None else f"n/a ({why_none})"


def add_adapt_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `adapt train|apply|check` on the main parser."""
    from scenesmith import cli as base
    from scenesmith.domain_adapt.adapter import methods

    p = commands.add_parser("adapt", help="sim→real adapters: fit on real train images, apply to a dataset")
    sub = p.add_subparsers(dest="adapt", required=True)
    t = sub.add_parser("train", help="fit an adapter (real images: train split only, labels unused)")
    t.add_argument(
        "--synthetic",
        required=True,
        help="synthetic dataset folder (or picture folder; the cyclegan/cut reading loss needs the "
        "dataset folder's semantic masks)",
    )
    t.add_argument("--real", required=True, help="real COCO file (or dataset/picture folder)")
    t.add_argument("--split", default="train", help="real split to learn from (never test; none: no splits)")
    t.add_argument("--method", required=True, choices=methods())
    t.add_argument("--out", required=True, help="adapter folder to create")
    t.add_argument("--seed", type=base._non_negative_int, default=0)
    t.add_argument(
        "--option", dest="options", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="method setting, e.g. beta=0.01 (fda), strength=0.8 (histogram), steps=2000 (cyclegan), "
        "reading_weight=1 (cyclegan, cut: keep what the labels say inside outlines)",
    )  # fmt: skip
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.set_defaults(run=_cmd_train, resumes=True)
    a = sub.add_parser("apply", help="adapt every image of a dataset; labels copied unchanged")
    a.add_argument("--model", required=True, help="adapter folder from `adapt train`")
    a.add_argument("dataset", help="scenesmith dataset folder")
    a.add_argument("out", help="new dataset folder (rerun to resume)")
    a.add_argument("--seed", type=base._non_negative_int, default=0)
    a.set_defaults(run=_cmd_apply, resumes=True)
    c = sub.add_parser("check", help="no near-copies of real images; labels still aligned with edges")
    c.add_argument("adapted", help="adapted dataset folder")
    c.add_argument("--real", required=True, help="real COCO file the adapter learned from")
    c.add_argument("--split", default="train", help="real split the adapter learned from (none: no splits)")
    c.add_argument("--original", help="the source dataset, to measure label alignment")
    c.add_argument("--json", type=base._output_file, help="write the report here")
    c.set_defaults(run=_cmd_check)
