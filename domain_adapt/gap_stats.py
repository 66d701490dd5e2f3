"""KID on the fixed encoder's features, and low-level image statistics, for the gap report.

Why both: KID (Bińkowski et al. 2018: unbiased MMD² with the cubic polynomial kernel, averaged over
subsets) summarises "how different do the sets look to a generic encoder" in one unbiased number,
with a spread; the low-level statistics say *what* differs in terms a scene-rule author can act on
(too bright, too saturated, too sharp, too clean, wrong frequency content).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.stats import wasserstein_distance

from scenesmith.domain_adapt.sensor_fit import noise_sigma, sharpness

SPECTRUM_BANDS = 24


def kid(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, subsets: int = 50, size: int = 100) -> dict:
    """KID between feature sets a (n×d) and b (m×d): mean and sd over random subsets."""
    size = min(size, len(a), len(b))
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        off = size * (size - 1)
        values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean())
    return {
        "mean": float(np.mean(values)),
        "sd": float(np.std(values)),
        "subset_size": size,
        "subsets": subsets,
    }


def radial_spectrum(grey: np.ndarray, bands: int = SPECTRUM_BANDS) -> np.ndarray:
    """Mean log10 power of the luminance spectrum in `bands` rings from DC to Nyquist (DC excluded)."""
    g = grey.astype(np.float64)
    power = np.abs(np.fft.fftshift(np.fft.fft2(g - g.mean()))) ** 2 / g.size
    h, w = g.shape
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.hypot((yy - h // 2) / h, (xx - w // 2) / w)  # cycles per pixel, Nyquist = 0.5
    ring = np.minimum((radius / 0.5 * bands).astype(int), bands)
    sums = np.bincount(ring.ravel(), power.ravel(), bands + 1)[:bands]
    counts = np.bincount(ring.ravel(), minlength=bands + 1)[:bands]
    return np.log10(sums[1:] / counts[1:] + 1e-12) if bands > 1 else np.zeros(0)


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness of an RGB image."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def per_image_statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: brightness, saturation, colourfulness, sharpness, noise σ, and the radial spectrum."""
    rows: dict[str, list] = {k: [] for k in ("brightness", "saturation", "colourfulness", "sharpness",
                                             "noise_sigma", "spectrum")}  # fmt: skip
    for image in images:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        rows["brightness"].append(float(grey.mean()))
        rows["saturation"].append(float(cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1].mean()))
        rows["colourfulness"].append(colourfulness(image))
        rows["sharpness"].append(sharpness(grey))
        rows["noise_sigma"].append(noise_sigma(grey))
        rows["spectrum"].append(radial_spectrum(grey))
    return {k: np.asarray(v) for k, v in rows.items()}


def compare_low_level(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict:
    """Per statistic: means, Wasserstein-1 and W1 ÷ pooled sd; spectrum: mean log-power gap per band."""
    out = {}
    for key in ("brightness", "saturation", "colourfulness", "sharpness", "noise_sigma"):
        pooled = np.concatenate([a[key], b[key]]).std()
        w1 = wasserstein_distance(a[key], b[key])
        out[key] = {"mean_a": float(a[key].mean()), "mean_b": float(b[key].mean()), "wasserstein": float(w1),
                    "normalised": float(w1 / pooled) if pooled > 0 else 0.0}  # fmt: skip
    spectrum_a, spectrum_b = a["spectrum"].mean(axis=0), b["spectrum"].mean(axis=0)
    frequencies = (np.arange(1, SPECTRUM_BANDS) + 0.5) / SPECTRUM_BANDS * 0.5
    slope = [float(np.polyfit(np.log10(frequencies), s, 1)[0]) for s in (spectrum_a, spectrum_b)]
    out["radial_spectrum"] = {
        "frequency_cycles_per_px": frequencies.tolist(),
        "log10_power_a": spectrum_a.tolist(),
        "log10_power_b": spectrum_b.tolist(),
        "mean_abs_log10_gap": float(np.abs(spectrum_a - spectrum_b).mean()),
        "slope_a": slope[0],
        "slope_b": slope[1],
    }
    return out
