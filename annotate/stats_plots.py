"""PNG plots of `annotate.stats` results: one figure per group, synthetic and real overlaid.

Figures are built with the object-oriented matplotlib API on an Agg canvas (no pyplot, no global
backend switch), so this works headless and inside other programs that use matplotlib.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scenesmith.annotate.atomic import atomic_save
from scenesmith.annotate.stats import (
    CHANNELS,
    COLOR_BINS,
    DatasetStats,
    Distance,
    label,
)

SYNTHETIC_COLOR = "tab:blue"
REAL_COLOR = "tab:orange"
BOX_PANELS = (
    "box_width_px",
    "box_height_px",
    "box_width_frac",
    "box_height_frac",
    "box_aspect",
    "box_area_frac",
    "objects_per_image",
    "visibility",
    "truncation",
)
IMAGE_PANELS = ("brightness", "saturation", "contrast", "sharpness")
OBJECT_PANELS = ("object_brightness", "object_saturation", "object_contrast", "object_surround_contrast")


def _figure(
    panels: int, columns: int, panel_size: tuple[float, float] = (4.0, 3.0)
) -> tuple[Figure, list[Axes]]:
    rows = max(1, math.ceil(panels / columns))
    fig = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, columns, i + 1) for i in range(panels)]
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    return atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=100))


def _overlay(ax: Axes, name: str, synthetic: DatasetStats, real: DatasetStats | None) -> None:
    """Density histograms on shared bins, so the two shapes compare whatever the sample sizes."""
    series = [(synthetic, SYNTHETIC_COLOR)] + ([(real, REAL_COLOR)] if real is not None else [])
    present = [(s, c) for s, c in series if len(s.values.get(name, ())) > 0]
    ax.set_title(label(name))
    ax.set_xlabel(label(name))
    ax.set_ylabel("density")
    if not present:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    edges = np.histogram_bin_edges(np.concatenate([s.values[name] for s, _ in present]), bins=30)
    for stats, color in present:
        ax.hist(
            stats.values[name],
            bins=edges,
            density=True,
            alpha=0.5,
            color=color,
            label=f"{stats.name} (n={len(stats.values[name])})",
        )
    ax.legend(fontsize="small")


def plot_boxes(path: Path, synthetic: DatasetStats, real: DatasetStats | None) -> Path:
    names = [n for n in BOX_PANELS if n in synthetic.values or (real is not None and n in real.values)]
    fig, axes = _figure(len(names), 3)
    for ax, name in zip(axes, names, strict=True):
        _overlay(ax, name, synthetic, real)
    fig.suptitle("Boxes: sizes, shape, objects per image, visibility")
    return _save(fig, path)


def plot_centers(path: Path, synthetic: DatasetStats, real: DatasetStats | None) -> Path:
    series = [synthetic] + ([real] if real is not None else [])
    fig, axes = _figure(len(series), len(series), (5.0, 4.4))
    for ax, stats in zip(axes, series, strict=True):
        total = stats.center_heatmap.sum()
        image = ax.imshow(
            stats.center_heatmap / total if total else stats.center_heatmap,
            extent=(0, 1, 1, 0),
            cmap="viridis",
            interpolation="nearest",
        )
        ax.set_title(f"{stats.name}: {int(total)} box centres")
        ax.set_xlabel("centre x / image width")
        ax.set_ylabel("centre y / image height")
        fig.colorbar(image, ax=ax, label="fraction of boxes")
    fig.suptitle("Box centre heatmaps (image orientation: top row = top of image)")
    return _save(fig, path)


def plot_classes(path: Path, synthetic: DatasetStats, real: DatasetStats | None) -> Path:
    series = [(synthetic, SYNTHETIC_COLOR)] + ([(real, REAL_COLOR)] if real is not None else [])
    names = list(synthetic.class_counts) + [
        n for n in (real.class_counts if real else {}) if n not in synthetic.class_counts
    ]
    fig, (ax,) = _figure(1, 1, (max(6.0, 0.8 * len(names) + 2), 4.0))
    x = np.arange(len(names))
    width = 0.8 / len(series)
    for k, (stats, color) in enumerate(series):
        total = sum(stats.class_counts.values())
        fractions = [stats.class_counts.get(n, 0) / total if total else 0.0 for n in names]
        ax.bar(
            x + (k - (len(series) - 1) / 2) * width,
            fractions,
            width,
            color=color,
            label=f"{stats.name} ({total} boxes)",
        )
    ax.set_xticks(x, names, rotation=30 if len(names) > 8 else 0)
    ax.set_xlabel("category")
    ax.set_ylabel("fraction of boxes")
    ax.set_title("Class balance")
    ax.legend()
    return _save(fig, path)


def plot_images(path: Path, synthetic: DatasetStats, real: DatasetStats | None) -> Path:
    fig = Figure(figsize=(12.0, 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    for k, name in enumerate(IMAGE_PANELS):
        _overlay(fig.add_subplot(2, 3, k + 1), name, synthetic, real)
    ax = fig.add_subplot(2, 3, (5, 6))
    centres = (np.arange(COLOR_BINS) + 0.5) * (256 / COLOR_BINS)
    for stats, style in [(synthetic, "-")] + ([(real, "--")] if real is not None else []):
        for c, (channel, color) in enumerate(zip(CHANNELS, ("red", "green", "blue"), strict=True)):
            ax.plot(
                centres, stats.color_histogram[c], style, color=color, label=f"{stats.name} {channel.upper()}"
            )
    ax.set_title("Colour histograms per channel (mean of per-image normalised histograms)")
    ax.set_xlabel("intensity (0–255)")
    ax.set_ylabel("fraction of pixels")
    ax.legend(fontsize="small", ncols=2)
    fig.suptitle("Image statistics (images resized to a common short side)")
    return _save(fig, path)


def plot_objects(path: Path, synthetic: DatasetStats, real: DatasetStats | None) -> Path:
    names = [n for n in OBJECT_PANELS if n in synthetic.values or (real is not None and n in real.values)]
    fig, axes = _figure(len(names), 2)
    for ax, name in zip(axes, names, strict=True):
        _overlay(ax, name, synthetic, real)
    fig.suptitle("Objects: how the boxed objects themselves look (box core, and against their surround)")
    return _save(fig, path)


def plot_factors(path: Path, synthetic: DatasetStats) -> Path:
    names = list(synthetic.factors)
    fig, axes = _figure(len(names), 5, (3.4, 2.6))
    for ax, name in zip(axes, names, strict=True):
        ax.hist(synthetic.factors[name], bins=20, color=SYNTHETIC_COLOR)
        ax.set_title(name, fontsize="small")
        ax.set_xlabel("value", fontsize="small")
        ax.set_ylabel("images", fontsize="small")
        ax.tick_params(labelsize="x-small")
    fig.suptitle(f"{synthetic.name}: sampled scene factors ({synthetic.num_images} images)")
    return _save(fig, path)


def plot_distances(path: Path, distances: list[Distance]) -> Path:
    fig, (ax,) = _figure(1, 1, (8.0, max(3.0, 0.3 * len(distances) + 1)))
    labels = [label(d.statistic) for d in distances][::-1]
    values = [d.normalised for d in distances][::-1]
    colors = ["tab:red" if d.kind == "total_variation" else "tab:purple" for d in distances][::-1]
    ax.barh(labels, values, color=colors)
    ax.set_xlabel("normalised distance (Wasserstein ÷ pooled std, in [0, 2]; total variation in red)")
    ax.set_title("Synthetic vs real: largest gaps at the top")
    return _save(fig, path)


def write_plots(
    out_dir: Path, synthetic: DatasetStats, real: DatasetStats | None, distances: list[Distance]
) -> list[Path]:
    """All figures that have data; returns their paths."""
    plots = [
        plot_boxes(out_dir / "boxes.png", synthetic, real),
        plot_centers(out_dir / "box_centers.png", synthetic, real),
        plot_classes(out_dir / "class_balance.png", synthetic, real),
        plot_images(out_dir / "images.png", synthetic, real),
    ]
    if any(name in synthetic.values for name in OBJECT_PANELS):
        plots.append(plot_objects(out_dir / "objects.png", synthetic, real))
    if synthetic.factors:
        plots.append(plot_factors(out_dir / "factors.png", synthetic))
    if distances:
        plots.append(plot_distances(out_dir / "distances.png", distances))
    return plots
