"""`scenesmith gap A B --out DIR`: the domain-gap report between two image sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from scenesmith.errors import UserError


def _cmd_gap(args: argparse.Namespace) -> int:
    from scenesmith.domain_adapt.gap import measure_gap, summary_line, write_gap_report

    split_a = _split_or_train(args.a, args.split_a, "--split-a")
    split_b = _split_or_train(args.b, args.split_b, "--split-b")
    repeats = {} if args.repeats is None else {"repeats": args.repeats}  # None: measure_gap's default
    report = measure_gap(Path(args.a), Path(args.b), split_a, split_b, args.max_images, args.seed,
                         args.steps, args.folds, **repeats)  # fmt: skip
    write_gap_report(report, Path(args.out))
    print(f"gap: {summary_line(report)}; report {(Path(args.out) / 'gap.md').resolve()}")
    return 0


def _split_or_train(source: str, split: str | None, option: str) -> str | None:
    """The split asked for; else `train` of a COCO file that marks splits (its test photos are for the
    reported scores only), every image otherwise. `none` asks for every image explicitly.

    A picture folder whose neighbouring COCO file marks some of its pictures as test is refused: a gap
    measured on them would steer the scene rules by the test photos.
    """
    from scenesmith.annotate.coco_schema import coco_file_of
    from scenesmith.annotate.stats import default_split
    from scenesmith.domain_adapt.images import NO_SPLIT, image_paths, test_photos_among

    if split is not None:
        return None if split.lower() == NO_SPLIT else split
    coco = coco_file_of(Path(source))
    if coco is not None:
        return default_split(coco)
    if found := test_photos_among(source, image_paths(source)):
        marked, seen = found
        raise UserError(
            f"{source}: {marked} marks {len(seen)} of these pictures as test (e.g. {seen[0].name}), and the "
            f"test photos are for reported scores only; give {marked} instead (its train split is taken), "
            f"or {option} none to measure every picture anyway"
        )
    return None


def add_gap_parser(commands: argparse._SubParsersAction) -> None:
    from scenesmith import cli as base

    p = commands.add_parser("gap", help="how distinguishable two image sets are (AUC, KID, low-level stats)")
    p.add_argument("a", help="set A: dataset folder, COCO file or picture folder")
    p.add_argument("b", help="set B")
    p.add_argument(
        "--split-a", help="split of A (default: train of a COCO file that marks splits; none: all)"
    )
    p.add_argument(
        "--split-b", help="split of B (default: train of a COCO file that marks splits; none: all)"
    )
    p.add_argument("--max-images", type=base._positive_int, default=400, help="images per set (random)")
    p.add_argument("--steps", type=base._positive_int, default=300, help="classifier steps per fold")
    p.add_argument("--folds", type=base._positive_int, default=5, help="classifier folds (at least 2)")
    p.add_argument(
        "--repeats",
        type=base._positive_int,
        help="classifier tests per measure, with independent seeds (default 3): the AUC is their mean and "
        "the 95%% interval holds their spread as well as the images' (1: one classifier, about 3x faster)",
    )
    p.add_argument("--seed", type=base._non_negative_int, default=0)
    p.add_argument(
        "--out", type=base._output_folder, required=True, help="report folder (gap.json, gap.md, gap.png)"
    )
    p.set_defaults(run=_cmd_gap)
