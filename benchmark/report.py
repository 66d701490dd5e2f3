"""Benchmark results → report.json, report.md and plots.

Why every ratio sits next to absolute mAPs and a spread: with 50 test photos and a few seeds, a ratio
alone hides whether the denominator was weak and whether a difference is bigger than seed noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scenesmith.annotate.atomic import atomic_save, atomic_write_json, atomic_write_text  # noqa: E402
from scenesmith.benchmark.arms import is_adapted_only  # noqa: E402
from scenesmith.benchmark.augment import AUGMENT_PRESETS  # noqa: E402
from scenesmith.benchmark.box_fit import MATCH_IOU as SCALE_IOU  # noqa: E402
from scenesmith.benchmark.data import DetectionSet, Sample  # noqa: E402
from scenesmith.benchmark.evaluate import Detections  # noqa: E402
from scenesmith.benchmark.intervals import draws_difference_interval, mean_interval, ratio_interval  # noqa: E402
from scenesmith.benchmark.model import UNKNOWN_CLASS  # noqa: E402
from scenesmith.benchmark.publish import remove_unshown_pictures, shown_pictures  # noqa: E402
from scenesmith.benchmark.reading import READ_IOU, read_right  # noqa: E402

METRICS = ("map", "map50", "die_map", "die_map50")
MAP_BOUNDS = (0.0, 1.0)
BASELINE = "real_100"


def summarize(
    values: list[float],
    test_resamples: list[list[float]] | None = None,
    bounds: tuple[float, float] | None = None,
) -> dict:
    """Mean, sample sd and a 95% interval of the mean (`intervals.mean_interval`), cut to `bounds`
    (an mAP lies in [0, 1]: a t interval with 2 degrees of freedom can reach below 0, and its part
    outside the possible values says nothing).

    The interval is a t interval over the seeds; with `test_resamples` (per seed, its score on each of
    the test-set draws every run shares, see `evaluate.image_resampled_maps`) it also holds how much
    the score would move on other photos of the same kind: 50 test photos move a score as much as a
    seed does.
    """
    array = np.asarray(values, float)
    over_images = bool(test_resamples) and len(test_resamples) == len(array) and len(array) > 0
    table = np.asarray(test_resamples, float) if over_images else None
    interval = mean_interval(array, table) if len(array) else [0.0, 0.0]
    if bounds is not None:
        interval = [min(max(v, bounds[0]), bounds[1]) for v in interval]
    return {
        "mean": float(array.mean()) if len(array) else 0.0,
        "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "ci95": interval,
        "ci95_over": "seeds and test images" if over_images else "seeds",
        "n": len(array),
        "values": [float(v) for v in array],
    }


def real_data_equivalence(
    real_curve: dict[float, float], score: float, interval: Sequence[float] | None = None
) -> dict:
    """The real fraction a real-only model needs to match `score`, interpolated on log fraction.

    Why every crossing is listed: with a few seeds per fraction the real-only curve can dip (a 50%
    arm above the 100% one), so a score can be matched at more than one fraction; the first one is
    the answer and the others are named, rather than silently picking one. Why the fractions and the
    range are given: the answer depends on which real-only arms drew the curve (10% and 100% alone
    make a straight line), and `interval` (the score's 95% CI) maps to a range of fractions that
    holds the score's own noise (not the curve's).
    """
    points = sorted(real_curve.items())
    fractions = ", ".join(f"{f * 100:g}" for f, _ in points)
    if not points:
        return {"fraction": None, "text": "n/a (no real-only arms)"}
    found = _equivalent_fraction(points, score)
    out = {**found, "real_fractions": [f for f, _ in points]}
    note = f"curve of the real-only arms at {fractions}%"
    if interval is not None:
        low, high = (_equivalent_fraction(points, bound)["text"] for bound in interval)
        out["range"] = [low, high]
        note += f"; the score's 95% CI maps to {low} – {high}, the curve's own noise not included"
    out["text"] = f"{found['text']} ({note})"
    return out


def _equivalent_fraction(points: list[tuple[float, float]], score: float) -> dict:
    best_fraction, best_score = max(points, key=lambda p: p[1])
    if score > best_score:
        return {
            "fraction": None,
            "text": f"> {points[-1][0] * 100:g}% (beats every real-only arm, best {best_fraction * 100:g}%)",
        }
    if score <= points[0][1]:
        return {"fraction": points[0][0], "text": f"<= {points[0][0] * 100:g}%"}
    crossings = [
        math.exp(math.log(f0) + (score - s0) / (s1 - s0) * (math.log(f1) - math.log(f0)))
        for (f0, s0), (f1, s1) in zip(points, points[1:], strict=False)
        if s0 < score <= s1 or s1 <= score < s0  # rising, or falling where the curve dips
    ]
    text = f"{crossings[0] * 100:.1f}%"
    if len(crossings) > 1:
        others = ", ".join(f"{c * 100:.1f}%" for c in crossings[1:])
        text += f" (real-only curve not monotone: also reached at {others})"
    return {"fraction": crossings[0], "text": text}


def _mean_per_class_ap(scores: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Per class, the mean AP over seeds; None for a class no seed's test split holds."""
    out: dict[str, float | None] = {}
    for name in scores[0]:
        values = [score[name] for score in scores if score[name] is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


def aggregate(records: list[dict], arm_info: dict[str, dict]) -> dict:
    """Per arm: metric summaries over seeds, ratios to real-100%, steps, wall time, images used."""
    arms: dict[str, dict] = {}
    for name, info in arm_info.items():
        rows = sorted((r for r in records if r["arm"] == name and r["test"]), key=lambda r: r["seed"])
        if not rows:
            continue
        entry = dict(info)
        for metric in METRICS:
            entry[metric] = summarize([r["test"][metric] for r in rows], bounds=MAP_BOUNDS)
        # Runs scored before the test-set draws existed (and kept without weights) have none.
        if all("map_image_resamples" in r["test"] for r in rows):
            entry["map"] = summarize(
                [r["test"]["map"] for r in rows],
                test_resamples=[r["test"]["map_image_resamples"] for r in rows],
                bounds=MAP_BOUNDS,
            )
        entry["per_class_ap"] = _mean_per_class_ap([r["test"]["per_class_ap"] for r in rows])
        # Real validation mAP of the chosen checkpoint: the score scene-rule iterations are compared on.
        entry["real_val_map"] = summarize(
            [r["real_val"]["map"] for r in rows if r.get("real_val")], bounds=MAP_BOUNDS
        )
        entry["test_reading"] = summed_reading([r["test"] for r in rows])
        entry["test_box_scale"] = summarize(
            [
                r["test"]["box_scale"]["median"]
                for r in rows
                if (r["test"].get("box_scale") or {}).get("median")
            ]
        )
        entry["steps"] = summarize([r["steps"] for r in rows])
        entry["train_seconds"] = summarize([r["train_seconds"] for r in rows])
        entry["seeds"] = [{k: v for k, v in r.items() if k != "curve"} for r in rows]
        entry["runs_stopped_by_step_cap"] = sum(r["stopped_by"] == "step_cap" for r in rows)
        arms[name] = entry
    if BASELINE in arms:
        for entry in arms.values():
            entry["ratio_to_real_100"] = {
                m: (entry[m]["mean"] / arms[BASELINE][m]["mean"] if arms[BASELINE][m]["mean"] > 0 else None)
                for m in METRICS
            }
            # The baseline over itself is 1 by definition: no interval (its seeds are not another arm's).
            is_base = entry is arms[BASELINE]
            entry["ratio_to_real_100_ci95"] = None if is_base else arm_ratio_interval(entry, arms[BASELINE])
    return arms


def arm_ratio_interval(entry: dict, base: dict) -> list[float] | None:
    """95% interval of an arm's mAP over real-100%'s (`intervals.ratio_interval`); None without draws."""
    tables = [[run["test"].get("map_image_resamples") for run in arm["seeds"]] for arm in (entry, base)]
    if any(None in table for table in tables):
        return None
    scores = [np.array([run["test"]["map"] for run in arm["seeds"]]) for arm in (entry, base)]
    return ratio_interval(scores[0], np.array(tables[0]), scores[1], np.array(tables[1]))


def summed_reading(scores: list[dict]) -> dict | None:
    """The seeds' reading matrices added up (None when a score predates them), with its accuracy."""
    readings = [score.get("reading") for score in scores]
    if any(r is None for r in readings):
        return None
    matrix = np.sum([r["matrix"] for r in readings], axis=0)
    return {"classes": readings[0]["classes"], "matrix": matrix.tolist(), "accuracy": read_right(matrix)}


def difference_interval(records: Sequence[dict], arm: str, other: str) -> list[float] | None:
    """95% interval, in mAP points, of `arm`'s mean test mAP minus `other`'s, centred on that
    difference (see `draws_difference_interval`); None when a run has no test-image draws (scored
    before they existed)."""
    scores, draws = {}, {}
    for name in (arm, other):
        runs = [r for r in records if r["arm"] == name and r["test"]]
        if not runs or any(r["test"].get("map_image_resamples") is None for r in runs):
            return None
        scores[name] = {r["seed"]: r["test"]["map"] for r in runs}
        draws[name] = {r["seed"]: r["test"]["map_image_resamples"] for r in runs}
    low, high = draws_difference_interval(scores[arm], draws[arm], scores[other], draws[other])
    return [100 * low, 100 * high]


def headline(arms: dict[str, dict], fraction_label: str = "10", records: Sequence[dict] = ()) -> dict:
    """The numbers users buy, each next to its target; differences in points carry a 95% interval
    (`difference_interval`) when `records` (the runs) are given."""
    # Two fractions that round to the same number of photos are one point: their runs pooled, not
    # one arm silently overwriting the other.
    by_fraction: dict[float, list[float]] = {}
    for name, entry in arms.items():
        if name.startswith("real_") and entry["real_fraction"] > 0:
            runs = entry["map"].get("values") or [entry["map"]["mean"]]
            by_fraction.setdefault(entry["real_train_fraction"], []).extend(runs)
    real_curve = {fraction: float(np.mean(values)) for fraction, values in by_fraction.items()}
    out: dict = {}
    finetune, real_small = arms.get(f"synthetic_to_{fraction_label}"), arms.get(f"real_{fraction_label}")
    if finetune:
        out["real_data_equivalence"] = {
            "arm": f"synthetic_to_{fraction_label}",
            **real_data_equivalence(
                real_curve,
                finetune["map"]["mean"],
                finetune["map"].get("ci95") if finetune["map"].get("n", 0) > 1 else None,
            ),
        }
    if finetune and BASELINE in arms:
        out["synthetic_to_10_over_real_100"] = {
            "value": finetune["ratio_to_real_100"]["map"],
            "target": 1.0,
            "ci95": finetune.get("ratio_to_real_100_ci95"),
        }
    if "synthetic_only" in arms and BASELINE in arms:
        out["synthetic_only_over_real_100"] = {
            "value": arms["synthetic_only"]["ratio_to_real_100"]["map"],
            "target": 0.75,
            "ci95": arms["synthetic_only"].get("ratio_to_real_100_ci95"),
        }

    def points(arm: str, other: str, target: float | str | None) -> dict:
        value = 100 * (arms[arm]["map"]["mean"] - arms[other]["map"]["mean"])
        return {"value": value, "target": target, "ci95": difference_interval(records, arm, other)}

    if finetune and real_small:
        out["synthetic_to_10_minus_real_10_points"] = points(
            f"synthetic_to_{fraction_label}", f"real_{fraction_label}", 10.0
        )
    for name, entry in arms.items():
        if is_adapted_only(name) and "synthetic_only" in arms:
            out[f"{name}_minus_synthetic_only_points"] = points(name, "synthetic_only", 3.0)
        # Each adapter vs none after the fine-tune too: no target, but a gain that washes out on real
        # labels is what a user deciding whether to adapt needs to see, with its interval.
        # Named like its siblings: "_to_10" stands for the headline fraction, whatever it is.
        adapted_finetune = is_adapted_only(entry.get("pretrained_from") or "")
        if adapted_finetune and finetune and entry["real_fraction"] == finetune["real_fraction"]:
            adapted = name.removesuffix(f"_to_{fraction_label}")
            out[f"{adapted}_to_10_minus_synthetic_to_10_points"] = points(
                name, f"synthetic_to_{fraction_label}", None
            )
    for name, entry in arms.items():
        # Self-training against its teacher, the fine-tune it learns from: what the unlabelled photos add.
        if entry.get("teacher") in arms:
            out[f"{name}_minus_{entry['teacher']}_points"] = points(name, entry["teacher"], None)
            if BASELINE in arms:
                out[f"{name}_over_real_100"] = {"value": entry["ratio_to_real_100"]["map"], "target": None}
    if f"control_to_{fraction_label}" in arms and finetune:
        out["synthetic_to_10_minus_control_to_10_points"] = points(
            f"synthetic_to_{fraction_label}", f"control_to_{fraction_label}", "> 0"
        )
    return out


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    atomic_save(path, lambda p: fig.savefig(p, dpi=110))
    plt.close(fig)


def _plot_bars(arms: dict[str, dict], path: Path) -> None:
    names = [n for n, e in arms.items() if e.get("family") != "sweep"]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4))
    x = np.arange(len(names))
    for offset, metric, label in (
        (-0.2, "map", "mAP@[.5:.95]"),
        (0.2, "die_map50", "die AP50 (class-agnostic)"),
    ):
        means = [arms[n][metric]["mean"] for n in names]
        sds = [arms[n][metric]["sd"] for n in names]
        ax.bar(x + offset, means, 0.4, yerr=sds, capsize=3, label=label)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("real test score (mean ± sd over seeds)")
    ax.set_ylim(0, 1.12)  # headroom for the legend above die AP50 bars near 1
    ax.legend(loc="upper center", ncol=2)
    _save(fig, path)


FRACTION_FAMILIES = (("real_", "real only"), ("synthetic_to_", "synthetic → real"))


def _fraction_points(arms: dict[str, dict], prefix: str) -> list[tuple[float, float, float]]:
    """(real training fraction drawn, mean test mAP, sd) of one family's arms that train on real photos."""
    return sorted(
        (e["real_train_fraction"], e["map"]["mean"], e["map"]["sd"])
        for n, e in arms.items()
        if n.startswith(prefix)
        and e["real_fraction"] > 0
        and not e.get("teacher")  # a student is no sweep point
    )


def _has_fraction_curve(arms: dict[str, dict]) -> bool:
    """Whether any reported arm has a point on the mAP-vs-real-fraction plot (a report of pretrainings
    alone has none, and an empty plot would only raise the question of what went wrong)."""
    return any(_fraction_points(arms, prefix) for prefix, _ in FRACTION_FAMILIES)


def _plot_fraction_curve(arms: dict[str, dict], val_images: int, path: Path) -> None:
    """Test mAP against the real training images actually drawn (whole images, so 1% may be 1.25%)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for prefix, label in FRACTION_FAMILIES:
        points = _fraction_points(arms, prefix)
        if points:
            f, m, s = zip(*points, strict=True)
            ax.errorbar(np.array(f) * 100, m, yerr=s, marker="o", capsize=3, label=label)
    if "synthetic_only" in arms:
        ax.axhline(arms["synthetic_only"]["map"]["mean"], ls="--", color="grey", label="synthetic only")
    ax.set_xscale("log")
    ax.set_xlabel(
        f"real training images drawn (% of the pool)\neach arm also uses {val_images} for validation"
    )
    ax.set_ylabel("real test mAP@[.5:.95]")
    ax.legend()
    _save(fig, path)


def _plot_curves(records: list[dict], path: Path) -> None:
    names = sorted({r["arm"] for r in records})
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = plt.get_cmap("tab10")
    for index, name in enumerate(names):
        for r in (r for r in records if r["arm"] == name):
            steps = [c["step"] for c in r["curve"]]
            ax.plot(
                steps,
                [c["val_map"] for c in r["curve"]],
                color=colours(index % 10),
                alpha=0.8,
                label=name if r["seed"] == min(x["seed"] for x in records if x["arm"] == name) else None,
            )
    ax.set_xlabel("step")
    ax.set_ylabel("validation mAP@[.5:.95]")
    ax.legend(fontsize=7)
    _save(fig, path)


def _reading_arms(arms: dict[str, dict]) -> list[str]:
    """Arms with a reading matrix, the fraction sweep left out (its arms would crowd the page)."""
    return [n for n, e in arms.items() if e.get("test_reading") and e.get("family") != "sweep"]


def _plot_reading(arms: dict[str, dict], path: Path) -> None:
    """Per arm, the share of each true face read as each face (rows sum to 1, missed included)."""
    names = _reading_arms(arms)
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        reading = arms[name]["test_reading"]
        counts = np.asarray(reading["matrix"], float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(reading["classes"])), reading["classes"], rotation=60, fontsize=7)
        ax.set_yticks(range(len(reading["classes"]) - 1), reading["classes"][:-1], fontsize=7)
        accuracy = reading["accuracy"]
        ax.set_title(f"{name}\nread right: {'n/a' if accuracy is None else f'{accuracy:.0%}'}", fontsize=8)
        ax.set_xlabel("read as", fontsize=7)
    axes[0][0].set_ylabel("true face", fontsize=7)
    _save(fig, path)


def _draw_box(
    canvas: np.ndarray,
    box: np.ndarray,
    colour: tuple,
    thickness: int,
    text: str | None = None,
    scale: float = 0.5,
) -> None:
    """One xyxy box on a BGR canvas, with `text` above it (kept inside the image) when given."""
    x0, y0, x1, y1 = (int(v) for v in box)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness)
    if text is not None:
        cv2.putText(
            canvas, text, (x0, max(10, y0 - 3)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA
        )


def _save_sheet(path: Path, grid: np.ndarray) -> None:
    atomic_save(path, lambda p: cv2.imwrite(str(p), grid, [cv2.IMWRITE_JPEG_QUALITY, 85]))


def prediction_grid(
    rows: list[tuple[str, list[Sample], Detections]],
    class_names: tuple[str, ...],
    path: Path,
    tile: int = 320,
    min_score: float = 0.3,
) -> None:
    """One row per arm: ground truth in green, predictions above min_score in red with their class."""
    images = []
    for title, samples, detections in rows:
        tiles = []
        for sample in samples:
            canvas = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR).copy()
            for box in sample.boxes:
                _draw_box(canvas, box, (0, 200, 0), 2)
            keep = detections.scores[sample.image_id] >= min_score
            boxes, labels = detections.boxes[sample.image_id][keep], detections.labels[sample.image_id][keep]
            for box, label in zip(boxes, labels, strict=True):
                _draw_box(canvas, box, (0, 0, 255), 1, class_names[label], scale=0.45)
            tiles.append(cv2.resize(canvas, (tile, tile), interpolation=cv2.INTER_AREA))
        row = np.hstack(tiles)
        cv2.putText(row, title, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        images.append(row)
    _save_sheet(path, np.vstack(images))


def pseudo_label_sheet(pseudo: DetectionSet, path: Path, tile: int = 320, per_row: int = 3) -> None:
    """A teacher's labels of unlabelled photos: read dice in red with their class, unread ones in yellow
    with "?" (they train where a die is, not what it shows)."""
    tiles = []
    for sample in pseudo.samples:
        canvas = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR).copy()
        for box, label in zip(sample.boxes, sample.labels, strict=True):
            if label == UNKNOWN_CLASS:
                _draw_box(canvas, box, (0, 220, 255), 2, "?")
            else:
                _draw_box(canvas, box, (0, 0, 255), 2, pseudo.class_names[label])
        tiles.append(cv2.resize(canvas, (tile, tile), interpolation=cv2.INTER_AREA))
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % per_row)
    _save_sheet(path, np.vstack([np.hstack(tiles[i : i + per_row]) for i in range(0, len(tiles), per_row)]))


def _fmt(summary: dict) -> str:
    if summary["n"] < 2:
        return f"{summary['mean']:.3f}"
    return f"{summary['mean']:.3f} ± {summary['sd']:.3f}"


def _ap_cell(ap: float | None) -> str:
    return "—" if ap is None else f"{ap:.3f}"  # None: the class is absent from the test split


def _interval(summary: dict) -> str:
    if summary["n"] < 2:
        return "n/a"
    low, high = summary["ci95"]
    return f"[{low:.3f}, {high:.3f}]"


def _interval_note(arms: dict[str, dict]) -> str:
    """What the 95% CI column resamples, naming any arm whose runs were scored without test-set draws."""
    text = (
        "Test scores: mean ± sd over each arm's seeds. The 95% CI of the mean is a Student t interval over "
        "the seeds (2 degrees of freedom with 3 seeds, so it is wide) widened by the spread of the mean over "
        "200 draws of the test photos with replacement, shared by every run (recentred on each run's score), "
        "so it holds both the seed noise and how much the score would move on other photos of the same kind; "
        "cut to [0, 1], the possible mAPs. A ratio's interval is taken on the log scale."
    )
    seeds_only = [
        name for name, arm in arms.items() if arm["map"].get("ci95_over") != "seeds and test images"
    ]
    if seeds_only:
        text += (
            f" Over the seeds alone for {', '.join(seeds_only)} (scored before the test-image draws existed):"
            " it leaves out the photos' part and is too narrow."
        )
    return text


def _labelled(arm: dict) -> str:
    """Real labelled images of an arm: training draw + validation (the fraction rounds to whole images),
    and the real photos it used without labels (a self-training student's, or its adapter's fit)."""
    train = arm["real_train_images"]
    unlabelled = arm.get("unlabelled_real_images")
    if arm.get("adapter") and unlabelled is None:
        extra = " (+ the photos its adapter was fitted on)"
    else:
        extra = f" (+ {unlabelled} unlabelled)" if unlabelled else ""
    return f"{train} + {arm['labelled_real_images'] - train}{extra}" if train else f"0{extra}"


def _synthetic_line(synthetic: dict | None) -> str:
    if not synthetic:
        return "Synthetic: none in this run."
    width, height = synthetic["resolution"]
    return (
        f"Synthetic: {synthetic['count']} images of `{synthetic['scene']}` at {width}×{height}, "
        f"{synthetic['samples']} samples, rendered in {synthetic['render_seconds']:.0f} s; "
        f"boxes {synthetic.get('boxes', 'exact')}."
    )


def _copied_lines(arms: dict[str, dict]) -> list[str]:
    """Name the runs lent by another folder (`--real-arms-from`, `--pretrainings-from`), not trained here."""
    sources: dict[str, list[str]] = {}
    for name, arm in arms.items():
        for seed in arm["seeds"]:
            if seed.get("copied_from"):
                folder = str(Path(seed["copied_from"]).parents[2])
                sources.setdefault(folder, []).append(f"{name} seed {seed['seed']}")
    return [f"Copied, not retrained here, from `{src}`: {', '.join(runs)}." for src, runs in sources.items()]


def budget_warnings(arms: dict[str, dict], seeds: int, planned: Sequence[str] = ()) -> list[str]:
    """Say so when the numbers cannot carry a claim: arms cut off by the step cap, arms with seeds
    still missing (`planned` arms without any finished seed count as 0), or a subset beating all."""
    warnings = []
    finished = {name: len(arm["seeds"]) for name, arm in arms.items()}
    short = [
        f"{name} ({finished.get(name, 0)})"
        for name in dict.fromkeys([*planned, *arms])
        if finished.get(name, 0) < seeds
    ]
    if short:
        warnings.append(
            f"Not every arm has its {seeds} seeds yet: {', '.join(short)}. Their means, intervals and "
            "ratios are over the finished seeds only."
        )
    capped = _step_cap_warning(arms)
    if capped:
        warnings.append(capped)
    for name, arm in arms.items():
        if name.startswith("real_") and name != BASELINE and BASELINE in arms:
            if arm["map"]["mean"] > arms[BASELINE]["map"]["mean"]:
                warnings.append(
                    f"{name} scores above {BASELINE} (mAP {arm['map']['mean']:.3f} > "
                    f"{arms[BASELINE]['map']['mean']:.3f}): the real-only baseline is not converged or the "
                    "difference is seed noise; do not read the ratios as data value."
                )
    return warnings


def _step_cap_warning(arms: dict[str, dict]) -> str | None:
    """Name the arms whose runs reached the step cap, and which of those runs were still rising.

    Why split them: the learning rate decays to zero at the cap, so a capped run whose best checkpoint
    came earlier had levelled off, while one whose best is its last evaluation may gain from a longer
    cap; a bare count of capped runs overstates the first kind and hides the second.
    """
    runs = sum(len(arm["seeds"]) for arm in arms.values())
    capped = {
        name: arm["runs_stopped_by_step_cap"] for name, arm in arms.items() if arm["runs_stopped_by_step_cap"]
    }
    if not capped:
        return None
    rising = [
        f"{name} seed {seed['seed']}"
        for name, arm in arms.items()
        for seed in arm["seeds"]
        if seed.get("stopped_by") == "step_cap" and seed.get("best_step") == seed.get("steps")
    ]
    per_arm = ", ".join(f"{name} {count}/{len(arms[name]['seeds'])}" for name, count in capped.items())
    still = (
        f"{len(rising)} of them scored their best at their last evaluation, still rising "
        f"({', '.join(rising)}): those may be under-trained (a longer `--max-steps` would tell), and "
        "ratios involving them measure training speed as much as data value"
        if rising
        else "none of them scored its best at its last evaluation"
    )
    return (
        f"{sum(capped.values())} of {runs} runs reached the step cap before patience could end them "
        f"({per_arm}); {still}."
    )


def _warnings(report: dict) -> list[str]:
    return [line for w in report.get("warnings", []) for line in (f"> **Warning.** {w}", "")]


def _reading_tables(report: dict) -> list[str]:
    """Test dice per true face (rows) by what the detector read them as, all seeds added up."""
    arms = {n: report["arms"][n]["test_reading"] for n in _reading_arms(report["arms"])}
    if not arms:
        return []
    lines = [
        "",
        "## How the test dice were read (counts over all seeds)",
        "",
        f"Each true die is read as its best-scoring overlapping detection (IoU ≥ {READ_IOU}), or missed; "
        f"the box scale compares sides of the dice found at IoU ≥ {SCALE_IOU}.",
        "",
    ]
    for name, reading in arms.items():
        accuracy = reading["accuracy"]
        scale = report["arms"][name].get("test_box_scale") or {}
        read = "n/a" if accuracy is None else f"{accuracy:.0%}"
        size = (
            f"; predicted box side {scale['mean']:.2f}× the true one (median per seed, averaged)"
            if scale.get("n")
            else ""
        )
        lines += [
            f"**{name}**: {read} of the found dice read right{size}.",
            "",
            "| true ↓ read as → | " + " | ".join(reading["classes"]) + " |",
            "|---|" + "---|" * len(reading["classes"]),
        ]
        lines += [
            f"| {true} | " + " | ".join(str(count) for count in row) + " |"
            for true, row in zip(reading["classes"][:-1], reading["matrix"], strict=True)
        ]
        lines.append("")
    lines += ["![reading](reading.png)"]
    return lines


def _finetune_lines(report: dict) -> list[str]:
    """Say how the fine-tunes differ from the pretrainings' recipe (nothing when they do not)."""
    rate, share = report.get("finetune_learning_rate"), report.get("finetune_synthetic_share")
    parts = []
    if rate is not None:
        parts.append(f"learning rate {rate:g} (pretrainings: {report['train_config']['learning_rate']:g})")
    if share:
        parts.append(
            f"{share:.0%} of each batch replayed from the pretraining's synthetic train set "
            "(not control_to_*: another scene's classes)"
        )
    if decay := report.get("finetune_ema"):
        parts.append(f"scored and saved as a moving average of their weights (decay {decay:g})")
    return [f"Fine-tunes: {'; '.join(parts)}."] if parts else []


def _anneal_lines(report: dict) -> list[str]:
    """Say that every arm ended with an anneal, and how often it raised the run's validation score."""
    steps = report["train_config"].get("anneal_steps")
    if not steps:
        return []
    gains = [
        seed["best_val_map"] - seed["anneal"]["best_val_map_before"]
        for arm in report["arms"].values()
        for seed in arm["seeds"]
        if seed.get("anneal")
    ]
    raised = sum(gain > 0 for gain in gains)
    mean = f", by {100 * sum(gains) / len(gains):+.1f} points on average" if gains else ""
    return [
        f"Every arm ends with an anneal of {steps} steps from its best checkpoint, the rate at that step "
        f"falling linearly to zero; it raised the validation score of {raised} of {len(gains)} runs{mean} "
        "(the step counts above include it)."
    ]


def _augment_lines(report: dict) -> list[str]:
    """Name the augmentation of rendered images (reports from before the option used the standard one)."""
    preset = report.get("synthetic_augment", "standard")
    if preset == "standard":
        return [
            "Rendered images (pretrainings and fine-tune replay) take the real photos' `standard` "
            "augmentation."
        ]
    changes = ", ".join(f"{k} {v}" for k, v in AUGMENT_PRESETS[preset].items())
    return [
        f"Rendered images (pretrainings and fine-tune replay) take the `{preset}` augmentation ({changes}); "
        "real photos the standard one."
    ]


def _labels_kept_lines(report: dict) -> list[str]:
    """Per adapter, whether the adapted renders still show what their labels say (`labels_kept.py`)."""
    lines = []
    for key, description in (report.get("adapted") or {}).items():
        kept = description.get("labels_kept")
        if not kept or kept["read_the_same"] is None:
            continue
        lines.append(
            f"Adapter `{key.removeprefix('adapted:')}`: synthetic_only seed 0 (trained on the plain "
            f"renders) reads {kept['read_the_same']:.1%} of the {kept['found_in_both']} rendered objects it "
            f"finds in both sets as the same class before and after adaptation (read right: "
            f"{kept['read_right_original']:.1%} → {kept['read_right_adapted']:.1%})."
        )
    return lines


def _self_train_lines(report: dict) -> list[str]:
    """Per self-training arm: who labelled which photos, how, and how good those labels are where the
    truth is known (the validation photos, averaged over seeds)."""
    lines = []
    for name, arm in report["arms"].items():
        labels = [seed["pseudo_labels"] for seed in arm["seeds"] if seed.get("pseudo_labels")]
        if not labels:
            continue
        rule, views = labels[0]["rule"], "8 views" if labels[0]["tta"] == "dihedral" else "1 view"
        quality = {
            key: float(np.mean([label["validation_quality"][key] for label in labels]))
            for key in ("die_recall", "die_precision", "read_share", "read_right")
        }
        unread = float(np.mean([label["unread_share"] for label in labels]))
        lines.append(
            f"Self-training (`{name}`): {arm['teacher']} of the same seed labels the "
            f"{arm['unlabelled_real_images']} pool photos its draw leaves out (objects with centre ≥ "
            f"{rule['min_centre']:g}, read when their class is ≥ {rule['min_class']:g}, {views}); "
            f"{unread:.0%} of those objects stay unread. Labelled the same way, the validation photos' dice "
            f"are {quality['die_recall']:.1%} found (precision {quality['die_precision']:.1%}), "
            f"{quality['read_share']:.1%} read, {quality['read_right']:.1%} right."
            f"{_student_recipe(report)}"
        )
        if sheet := (report.get("pseudo_label_sheets") or {}).get(name):
            lines.append(
                f"Seed 0's labels of the first of those photos (unread dice in yellow): ![{name}]({sheet})"
            )
    return lines


def _student_recipe(report: dict) -> str:
    """How the student differs from the other fine-tunes, if it does (reports from before the options:
    standard augmentation, started from the pretraining)."""
    preset = report.get("student_augment", "standard")
    text = (
        "" if preset == "standard" else f" The student trains on its photos with the `{preset}` augmentation."
    )
    if report.get("student_init") == "teacher":
        text += " It starts from its teacher's weights."
    return text


def _tta_clause(report: dict) -> str:
    """How the real photos were scored (reports from before `--tta` scored them plainly)."""
    if report.get("tta", "none") == "dihedral":
        return (
            "real photos scored with test-time augmentation (`--tta dihedral`: heatmap, classes and box "
            "size averaged over the 8 turns and flips)"
        )
    return "real photos scored as they are (`--tta none`)"


def _box_calibration_clause(report: dict) -> str:
    """How the boxes were scored: as trained, or rescaled per run (`--box-calibration validation`)."""
    factors = [
        run["box_factor"]
        for arm in report["arms"].values()
        for run in arm.get("seeds", [])
        if run.get("box_factor") is not None
    ]
    if report.get("box_calibration", "none") == "none" or not factors:
        return "boxes as the detector predicts them"
    span = f"×{factors[0]:.3f}" if len(factors) == 1 else f"×{min(factors):.3f} to ×{max(factors):.3f}"
    return (
        "the boxes of every run with labelled real photos rescaled about their centres by one factor fitted "
        f"on the real validation photos (`--box-calibration validation`: {span}; runs without real labels "
        "keep their boxes)"
    )


def markdown(report: dict) -> str:
    lines = [
        f"# Sim-to-real benchmark: {report['scene']} on {report['real']}",
        "",
        f"Command: `{report['command']}`",
        "",
        _synthetic_line(report.get("synthetic")),
        f"Real: pool {report['real_pool_images']} train images, validation {report['real_val_images']}, "
        f"test {report['real_test_images']}; seeds {report['seeds']}; machine: {report['machine']}.",
        f"Detector: `{report.get('detector', 'centernet-per-class-heatmaps')}`; {_tta_clause(report)}; "
        f"{_box_calibration_clause(report)}.",
        *_finetune_lines(report),
        *_anneal_lines(report),
        *_augment_lines(report),
        *_labels_kept_lines(report),
        *_self_train_lines(report),
        *_copied_lines(report["arms"]),
        "",
        "| arm | seeds | real labelled imgs (train + val) | mAP@[.5:.95] | its 95% CI | mAP@.5 | die mAP "
        "| die AP50 | ratio to real-100% (mAP) [95% CI] | real val mAP | steps | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, arm in report["arms"].items():
        ratio = arm.get("ratio_to_real_100", {}).get("map")
        ratio_ci = arm.get("ratio_to_real_100_ci95")
        shown_ratio = "n/a" if ratio is None else f"{ratio:.2f}"
        if ratio_ci:
            shown_ratio += f" [{ratio_ci[0]:.2f}, {ratio_ci[1]:.2f}]"
        lines.append(
            f"| {name} | {arm['map']['n']} | {_labelled(arm)} | {_fmt(arm['map'])} | "
            f"{_interval(arm['map'])} | {_fmt(arm['map50'])} | "
            f"{_fmt(arm['die_map'])} | {_fmt(arm['die_map50'])} | "
            f"{shown_ratio} | {_fmt(arm['real_val_map'])} | "
            f"{arm['steps']['mean']:.0f} | "
            f"{arm['train_seconds']['mean']:.0f} |"
        )
    lines += [
        "",
        "Real images: an arm with 0 labelled real images uses none in training or in choosing its "
        "checkpoint; the settings every arm shares (scene rules, augmentation, box convention) were "
        "chosen on the real validation split.",
        "",
        _interval_note(report["arms"]),
        "",
        *_warnings(report),
        "## Headline",
        "",
    ]
    for key, value in report["headline"].items():
        if key == "real_data_equivalence":
            percent = value.get("arm", "synthetic_to_10").removeprefix("synthetic_to_")
            lines.append(
                f"- real-data equivalence of synthetic → {percent}%: **{value['text']}** of the real pool"
            )
        else:
            shown = "**n/a**" if value["value"] is None else f"**{value['value']:.3f}**"
            if value.get("ci95"):
                digits = 2 if "_over_" in key else 1  # a ratio, or a difference in points
                shown += f" [95% CI {value['ci95'][0]:.{digits}f}, {value['ci95'][1]:.{digits}f}]"
            target = "" if value["target"] is None else f" (target {value['target']})"
            lines.append(f"- {key}: {shown}{target}")
    lines += [
        "",
        "## Per-class AP (mean over seeds)",
        "",
        "| arm | " + " | ".join(report["class_names"]) + " |",
        "|---|" + "---|" * len(report["class_names"]),
    ]
    for name, arm in report["arms"].items():
        lines.append(
            f"| {name} | "
            + " | ".join(_ap_cell(arm["per_class_ap"][c]) for c in report["class_names"])
            + " |"
        )
    lines += _reading_tables(report)
    lines += [
        "",
        "![arms](bars.png)",
        "",
        *(["![fractions](fractions.png)", ""] if _has_fraction_curve(report["arms"]) else []),
        "![curves](curves.png)",
        "",
        # Reports made before the key existed always drew the picture.
        *(
            [f"![predictions]({sheet})", ""]
            if (sheet := report.get("prediction_sheet", "predictions.jpg"))
            else []
        ),
        *_misread_lines(report.get("misread_sheets") or {}),
    ]
    return "\n".join(lines)


def _misread_lines(sheets: dict[str, dict]) -> list[str]:
    """Links to the misread sheets: real validation dice each arm's seed 0 does not read right."""
    if not sheets:
        return []
    lines = [
        "## Misread real validation dice (seed 0)",
        "",
        "Crops of the real validation objects each arm's seed 0 reads as another class or misses, "
        "labelled true > read: where the next rules change should look (validation, never test).",
        "",
    ]
    for arm, sheet in sheets.items():
        if sheet["file"]:
            lines += [
                f"**{arm}**: {sheet['misread']} misread.",
                "",
                f"![{arm} misreads]({sheet['file']})",
                "",
            ]
        else:
            lines += [f"**{arm}**: every real validation object read right.", ""]
    return lines


def write_report(report: dict, records: list[dict], out: Path) -> None:
    """Draw the plots, write report.json and report.md, and remove the pictures report.md does not show
    (the runner's prediction and misread sheets are drawn before this)."""
    _plot_bars(report["arms"], out / "bars.png")
    if _has_fraction_curve(report["arms"]):
        _plot_fraction_curve(report["arms"], report["real_val_images"], out / "fractions.png")
    _plot_curves(records, out / "curves.png")
    _plot_reading(report["arms"], out / "reading.png")
    atomic_write_json(out / "report.json", report)
    text = markdown(report)
    atomic_write_text(out / "report.md", text)
    remove_unshown_pictures(out, shown_pictures(text))
