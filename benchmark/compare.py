"""Paired comparison of two benchmark runs: did a change of scene rules (or settings) help?

Why paired: a run's seed fixes which real images an arm trains on, and with 50 test photos the draw
moves mAP by more than most rule changes do. Two runs with the same split seed draw the same images for
the same seed, so the per-seed difference cancels the draw and the count of seeds that improved says
whether a gain beats seed noise. Rule changes are judged on the real validation split (`real_val`);
test scores are shown next to them but are never the ones to tune on.
"""

from __future__ import annotations

import json
from pathlib import Path

from scenesmith.benchmark.intervals import draws_difference_interval
from scenesmith.errors import UserError

SCORES = (
    ("real_val", "map", "real val mAP"),
    ("real_val", "reading.accuracy", "real val reading"),
    ("test", "map", "test mAP"),
    ("test", "die_map50", "test die AP50"),
)


def load_report(run: Path) -> dict:
    """A run folder's report.json (or the file itself), with a clear error when it is not one."""
    path = run / "report.json" if run.is_dir() else run
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise UserError(
            f"{path}: no benchmark report here (run `scenesmith benchmark --out {run}` first)"
        ) from error
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(report, dict) or not isinstance(report.get("arms"), dict):
        raise UserError(
            f"{path}: key 'arms' missing; expected a report.json written by `scenesmith benchmark`"
        )
    return report


def _score(seed_record: dict, where: str, metric: str, chosen_on_real_val: bool) -> float | None:
    """A seed's score; reports from before `real_val` was recorded fall back to `best_val_map` for
    arms that chose their checkpoint on real validation, since that is the same number. A dotted
    `metric` is a path into nested scores ("reading.accuracy")."""
    value = seed_record.get(where) or {}
    for key in metric.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None and where == "real_val" and metric == "map" and chosen_on_real_val:
        value = seed_record.get("best_val_map")
    return None if value is None else float(value)


def compare_arm(before: dict, after: dict, where: str, metric: str) -> dict:
    """One arm, one score: the per-seed pairs, their mean difference and how many seeds improved.

    A seed is paired only when both runs trained it on the same real images; an unpaired seed is
    listed but left out of the difference, since its gap would mix the rules with the draw.
    """
    chosen_on_real_val = bool(after.get("real_fraction") or before.get("real_fraction"))
    before_seeds = {s["seed"]: s for s in before.get("seeds", [])}
    after_seeds = {s["seed"]: s for s in after.get("seeds", [])}
    rows = []
    for seed in sorted(set(before_seeds) | set(after_seeds)):
        b, a = before_seeds.get(seed), after_seeds.get(seed)
        b_score = _score(b, where, metric, chosen_on_real_val) if b else None
        a_score = _score(a, where, metric, chosen_on_real_val) if a else None
        scored = b_score is not None and a_score is not None
        same_images = bool(b and a and b.get("train_image_ids") == a.get("train_image_ids"))
        rows.append(
            {
                "seed": seed,
                "before": b_score,
                "after": a_score,
                "paired": scored and same_images,
                "unpaired_draw": scored and not same_images,
                "delta": a_score - b_score if scored and same_images else None,
            }
        )
    deltas = [row["delta"] for row in rows if row["paired"]]
    paired = [row["seed"] for row in rows if row["paired"]]
    return {
        "seeds": rows,
        "paired_seeds": len(deltas),
        "mean_delta": sum(deltas) / len(deltas) if deltas else None,
        "delta_ci95": (
            _delta_interval(before_seeds, after_seeds, paired, where) if metric == "map" and deltas else None
        ),
        "improved": sum(d > 0 for d in deltas),
    }


def _delta_interval(before: dict, after: dict, seeds: list[int], where: str) -> list[float] | None:
    """95% interval of the mean paired delta, over the seeds and the scored photos together, centred on
    the mean delta of the full-set scores.

    Why the photos too: 40 validation photos move a run's mAP by several points, more than most rule
    changes; a delta whose interval spans 0 is not evidence either way. None when the scores predate
    the image draws.
    """
    scored = [{k: runs[k].get(where) or {} for k in seeds} for runs in (after, before)]
    if not seeds or any(s.get("map_image_resamples") is None for runs in scored for s in runs.values()):
        return None
    scores = [{k: s["map"] for k, s in runs.items()} for runs in scored]
    draws = [{k: s["map_image_resamples"] for k, s in runs.items()} for runs in scored]
    return draws_difference_interval(scores[0], draws[0], scores[1], draws[1])


def compare_reports(before: dict, after: dict) -> dict:
    """Every arm present in both reports, scored on real validation and test."""
    for key in ("real_val_images", "real_val_image_ids", "real_test_image_ids"):
        # The ids are recorded since 2026-12-06: two runs that both have them must agree on them (the
        # same count from another split seed would pair scores on different photos).
        if (key in before and key in after or key == "real_val_images") and before.get(key) != after.get(key):
            raise UserError(
                f"the two runs use different real validation or test photos ({key} differ); "
                "their scores are not comparable"
            )
    arms = {}
    for arm in before["arms"]:
        if arm not in after["arms"]:
            continue
        arms[arm] = {
            label: compare_arm(before["arms"][arm], after["arms"][arm], where, metric)
            for where, metric, label in SCORES
        }
    return {
        "before": {"command": before.get("command"), "synthetic": before.get("synthetic")},
        "after": {"command": after.get("command"), "synthetic": after.get("synthetic")},
        "arms": arms,
        "only_before": sorted(set(before["arms"]) - set(after["arms"])),
        "only_after": sorted(set(after["arms"]) - set(before["arms"])),
        # Reports from before `--tta` scored the photos as they are, and kept the boxes as trained.
        "tta": {"before": before.get("tta", "none"), "after": after.get("tta", "none")},
        "box_calibration": {
            "before": before.get("box_calibration", "none"),
            "after": after.get("box_calibration", "none"),
        },
    }


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _interval(interval: list[float] | None) -> str:
    return "n/a" if interval is None else f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"


def _scoring_warnings(comparison: dict) -> list[str]:
    """A warning per scoring setting (test-time augmentation, box calibration) that differs between the
    two runs: then every Δ holds that setting's effect as well as the change being judged."""
    lines = []
    for option in ("tta", "box_calibration"):
        setting = comparison[option]
        if setting["before"] != setting["after"]:
            flag = "--" + option.replace("_", "-")
            lines += [
                f"**Scored differently:** before with `{flag} {setting['before']}`, after with "
                f"`{flag} {setting['after']}`; every Δ below holds that change too.",
                "",
            ]
    return lines


def markdown(comparison: dict, before_name: str, after_name: str) -> str:
    """A table an artist can paste into the iteration log: one row per arm and score."""
    seeds = sorted(
        {row["seed"] for arm in comparison["arms"].values() for s in arm.values() for row in s["seeds"]}
    )
    head = (
        "| arm | score | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | mean Δ | 95% CI of Δ | seeds better |"
    )
    lines = [
        f"Before: `{before_name}`  ",
        f"After: `{after_name}`",
        "",
        "Each seed cell is before → after. Judge rule changes on real val mAP; test is for reporting. "
        "The interval of an mAP's Δ resamples the paired seeds and the scored photos together: one that "
        "spans 0 is not evidence either way. With one paired seed it holds the photos' spread alone and "
        "leaves out the seed noise: too narrow.",
        "",
        *_scoring_warnings(comparison),
        head,
        "|" + "---|" * (len(seeds) + 5),
    ]
    for arm, scores in comparison["arms"].items():
        for label, result in scores.items():
            by_seed = {row["seed"]: row for row in result["seeds"]}
            cells = []
            for seed in seeds:
                row = by_seed.get(seed)
                if row is None:
                    cells.append("—")
                    continue
                cell = f"{_fmt(row['before'])} → {_fmt(row['after'])}"
                cells.append(cell + " (other images)" if row["unpaired_draw"] else cell)
            better = f"{result['improved']}/{result['paired_seeds']}"
            interval = _interval(result.get("delta_ci95"))
            lines.append(
                f"| {arm} | {label} | "
                + " | ".join(cells)
                + f" | {_fmt(result['mean_delta'], True)} | {interval} | {better} |"
            )
    for key, text in (("only_before", "only in before"), ("only_after", "only in after")):
        if comparison[key]:
            lines.append(f"\nArms {text}: {', '.join(comparison[key])}.")
    return "\n".join(lines) + "\n"
