"""Camera sensor model fitted to the real photos: blur, chromatic aberration, noise, JPEG.

Why fit rather than guess: renders are clean where phone photos carry demosaicing and lens blur,
colour fringes, sensor noise and JPEG blocks, and a detector trained on clean pixels learns cues the
photos never show. Each parameter is measured on the real training images *and* on the renders, and
the adapter adds only what the renders lack. Every value, and how it was measured, goes into
adapter.json (`measured`).

- noise: Poisson-Gaussian, variance a·I + b (I in 0..1). Measured on flat 16² blocks (per brightness
  bin, the 30 % with the least smoothed gradient) with Immerkær's estimator (a Laplacian-difference
  filter blind to locally planar content), median per bin. The photos are measured after their JPEG
  compression, so the renders are too: the missing variance per bin is real − (renders through the
  fitted JPEG), clipped at 0, and its non-negative least-squares line gives the shape of (a, b). JPEG
  then removes most of the noise added before it (σ 0.7 levels came out as 0.01 at quality 66), so the
  line is scaled (grid of gains) until renders through noise → JPEG reach the photos' levels.
- JPEG: the quality of the real files from their luminance quantisation tables (Pillow), when they
  are JPEGs; otherwise no re-compression.
- blur: sharpness = variance of the Laplacian ÷ variance of the image. The Gaussian σ (grid search)
  for which the renders, passed through blur → fitted noise → fitted JPEG, reach the real median
  sharpness; JPEG and noise change sharpness too, so matching blur alone would over- or undershoot.
- chromatic aberration: the radial shift of red (blue mirrored) relative to green, in pixels at the
  corner, that best aligns their gradients (grid search, median over images); real − synthetic.

Apply: optics (aberration, blur) through `render.sensor.apply_sensor`, the same code the scene
rules' sensor section uses, then the noise, then JPEG. Each image draws its parameters within
×0.7–1.3 of the fitted values (JPEG quality ±5), so the set is not one fixed camera.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import nnls
from tqdm import tqdm

from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.domain_adapt.adapter import ADAPTER_FILE, FitInputs, register
from scenesmith.domain_adapt.images import read_rgb
from scenesmith.domain_adapt.settings import numeric_options, read_record
from scenesmith.errors import UserError
from scenesmith.procedural.description import SensorEffects
from scenesmith.render.sensor import apply_sensor

METHOD = "sensor"
VERSION = 2
MAX_FIT_IMAGES = 40
MAX_CA_IMAGES = 12  # the aberration search remaps every image 2×17 times
BLUR_GRID = np.round(np.arange(0.0, 3.01, 0.1), 2)
CA_GRID = np.round(np.arange(-2.0, 2.01, 0.25), 2)
JITTER = (0.7, 1.3)  # each image draws its parameters within this factor of the fitted values
BLOCK = 16
FLAT_FRACTION = 0.3
LEVEL_BINS = 8
MIN_BLOCKS_PER_BIN = 20
NOISE_GAINS = tuple(2.0 ** (k / 2) for k in range(-4, 17))  # variance factors: σ from ×0.5 to ×16
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_IMMERKAER_SCALE = math.sqrt(math.pi / 2) / 6  # mean |response| × this = σ for white Gaussian noise


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær (1996) noise σ of a whole image in 8-bit levels (texture counts too: an upper bound)."""
    response = cv2.filter2D(gray.astype(np.float32), -1, _IMMERKAER)[1:-1, 1:-1]
    return float(_IMMERKAER_SCALE * np.abs(response).mean())


def block_noise(gray: np.ndarray) -> np.ndarray:
    """Per 16² block of an 8-bit grey image: (mean level, Immerkær noise σ, smoothed gradient), 0..1."""
    g = gray.astype(np.float32)
    h, w = (g.shape[0] // BLOCK) * BLOCK, (g.shape[1] // BLOCK) * BLOCK

    def blocks(values: np.ndarray) -> np.ndarray:
        return values[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3)).ravel()

    sigma = blocks(np.abs(cv2.filter2D(g, -1, _IMMERKAER, borderType=cv2.BORDER_REFLECT))) * _IMMERKAER_SCALE
    smooth = cv2.GaussianBlur(g, (0, 0), 2.0)
    gradient = blocks(np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)))
    return np.stack([blocks(g), sigma, gradient], axis=1) / 255.0


def noise_levels(grays: list[np.ndarray]) -> dict[int, float]:
    """Median noise variance (0..1 units²) of the flattest blocks, per brightness bin with enough.

    Flatness is ranked within each bin: ranked over the whole image, the flattest blocks would be
    the darkest ones wherever noise grows with brightness, and the bright bins would go unmeasured.
    """
    level, sigma, gradient = np.concatenate([block_noise(g) for g in grays]).T
    bins = np.minimum((level * LEVEL_BINS).astype(int), LEVEL_BINS - 1)
    variances = {}
    for b in np.unique(bins):
        inside = bins == b
        flat = inside & (gradient <= np.quantile(gradient[inside], FLAT_FRACTION))
        if flat.sum() >= MIN_BLOCKS_PER_BIN:
            variances[int(b)] = float(np.median(sigma[flat] ** 2))
    return variances


def added_noise(real: dict[int, float], synthetic: dict[int, float]) -> tuple[float, float]:
    """(a, b) ≥ 0 of the variance a·I + b the renders lack, fitted over the bins both sets have."""
    shared = sorted(set(real) & set(synthetic))
    if not shared:
        return 0.0, 0.0
    centres = (np.array(shared) + 0.5) / LEVEL_BINS
    missing = np.array([max(0.0, real[b] - synthetic[b]) for b in shared])
    (a, b), _ = nnls(np.stack([centres, np.ones_like(centres)], axis=1), missing)
    return float(a), float(b)


def fit_noise(
    synthetic: list[np.ndarray], real_levels: dict[int, float], quality: int | None
) -> tuple[float, float, dict]:
    """(a, b) whose noise, added to the grey renders and passed through JPEG at `quality` (as apply
    does), brings their flat-block noise closest to the photos' (σ per bin, squared differences).

    Returns (a, b, what was measured): the line before the gain, the gain and the renders' levels
    after the chain."""
    compressed = [jpeg(g, quality) for g in synthetic]
    a0, b0 = added_noise(real_levels, noise_levels(compressed))
    if a0 == 0 and b0 == 0:
        return 0.0, 0.0, {"line_before_gain": [0.0, 0.0], "gain": 0.0}

    def after(gain: float) -> dict[int, float]:
        # The same draw per image for every gain, so gains are compared on one noise pattern.
        noisy = [
            add_noise(g, gain * a0, gain * b0, np.random.default_rng(k)) for k, g in enumerate(synthetic)
        ]
        return noise_levels([jpeg(g, quality) for g in noisy])

    def misfit(levels: dict[int, float]) -> float:
        shared = set(levels) & set(real_levels)
        return float(np.mean([(math.sqrt(levels[k]) - math.sqrt(real_levels[k])) ** 2 for k in shared]))

    levels = {gain: after(gain) for gain in NOISE_GAINS}
    gain = min(NOISE_GAINS, key=lambda g: misfit(levels[g]))
    return gain * a0, gain * b0, {"line_before_gain": [a0, b0], "gain": gain, "levels_after": levels[gain]}


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian ÷ variance of the image: edge energy, independent of contrast."""
    g = gray.astype(np.float32)
    return float(cv2.Laplacian(g, cv2.CV_32F).var() / max(g.var(), 1e-6))


def ca_shift(image: np.ndarray) -> float | None:
    """Corner shift (px) of red outward (blue inward) relative to green that best explains the edges;
    None when a channel has no edges to compare (a flat channel correlates with nothing: every shift
    scores NaN, and argmax of NaNs would report the grid's first shift, −2 px)."""

    def gradient(channel: np.ndarray) -> np.ndarray:
        c = channel.astype(np.float32)
        return np.hypot(cv2.Sobel(c, cv2.CV_32F, 1, 0), cv2.Sobel(c, cv2.CV_32F, 0, 1)).ravel()

    green = gradient(image[..., 1])

    def score(shift: float) -> float:
        # Undo a candidate aberration and measure how well red and blue edges then sit on green's.
        undone = apply_sensor(image, SensorEffects(chromatic_aberration_px=-shift), np.random.default_rng(0))
        red, blue = gradient(undone[..., 0]), gradient(undone[..., 2])
        return float(np.corrcoef(green, red)[0, 1] + np.corrcoef(green, blue)[0, 1])

    with np.errstate(invalid="ignore", divide="ignore"):  # a flat channel: handled just below
        scores = np.array([score(s) for s in CA_GRID])
    if np.isnan(scores).any():
        return None
    return float(CA_GRID[int(np.argmax(scores))])


# IJG standard luminance quantisation table (libjpeg's quality 50, JPEG spec Annex K.1). Compared as
# sorted values, so the order of the file's table (natural or zig-zag) does not matter.
_IJG_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


def jpeg_quality(path: Path) -> int | None:
    """Estimated IJG quality of a JPEG file from its luminance quantisation table; None if not JPEG."""
    from PIL import Image

    with Image.open(path) as image:
        tables = getattr(image, "quantization", None)
    if not tables:
        return None
    found = np.sort(np.asarray(tables[0], np.int64))
    misfit = [np.abs(np.sort(_ijg_table(q)) - found).sum() for q in range(1, 101)]
    return 1 + int(np.argmin(misfit))  # the lowest of equally close qualities


def _ijg_table(quality: int) -> np.ndarray:
    """libjpeg's luminance table at `quality` (jcparam.c), entries clipped to 1..255 as baseline JPEG
    writes them. Why the whole table: below quality ~25 most entries clip at 255, so a sum-based
    estimate drifts (quality 10 read as 15)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((np.asarray(_IJG_LUMINANCE, np.int64) * scale + 50) // 100, 1, 255)


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else 0.0


def _median_known(values: Iterable[float | None]) -> float:
    """Median of the values that could be measured (0 when none could)."""
    return _median([v for v in values if v is not None])


def add_noise(image: np.ndarray, a: float, b: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian noise of variance a·I + b (I in 0..1) on a uint8 image, as luminance noise:
    one draw shared by the colour channels.

    Why shared: (a, b) is measured on grey images, and independent draws per channel would reach grey
    with only 0.299² + 0.587² + 0.114² ≈ 0.45 of that variance; phone JPEGs also keep little chroma
    noise. Shared, the grey image gets exactly the variance that was measured.
    """
    if a == 0 and b == 0:
        return image
    x = image.astype(np.float32) / np.float32(255.0)
    draw = rng.standard_normal(x.shape[:2] + (1,) * (x.ndim - 2), dtype=np.float32)
    x = x + draw * np.sqrt(np.float32(a) * x + np.float32(b))
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int | None) -> np.ndarray:
    """`image` through a JPEG encode/decode at `quality` (grey or RGB); None leaves it as it is."""
    if quality is None:
        return image
    colour = image.ndim == 3
    ok, buffer = cv2.imencode(
        ".jpg", image[..., ::-1] if colour else image, [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    return np.ascontiguousarray(decoded[..., ::-1]) if colour else decoded


@dataclass
class SensorAdapter:
    noise_a: float  # Poisson-Gaussian variance a·I + b added, I and σ in 0..1 intensity units
    noise_b: float
    blur_sigma_px: float
    chromatic_aberration_px: float
    jpeg_quality: int | None
    measured: dict
    method: str = METHOD

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        def jitter(value: float) -> float:
            return float(value * rng.uniform(*JITTER))

        optics = SensorEffects(
            blur_sigma_px=jitter(self.blur_sigma_px),
            chromatic_aberration_px=jitter(self.chromatic_aberration_px),
        )
        a, b = jitter(self.noise_a), jitter(self.noise_b)
        quality = None
        if self.jpeg_quality is not None:
            quality = int(np.clip(self.jpeg_quality + rng.integers(-5, 6), 1, 100))
        return jpeg(add_noise(apply_sensor(image, optics, rng), a, b, rng), quality)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / ADAPTER_FILE, {"method": METHOD, "version": VERSION, **asdict(self)})


def _sample(paths: tuple[Path, ...], count: int, rng: np.random.Generator) -> list[Path]:
    return [paths[i] for i in sorted(rng.choice(len(paths), min(count, len(paths)), replace=False))]


def fit_blur(synthetic: list[np.ndarray], target: float, a: float, b: float, quality: int | None) -> dict:
    """The grid σ whose blur → noise → JPEG chain gives the renders the real median sharpness."""
    rng = np.random.default_rng(0)
    noise = [rng.standard_normal(g.shape, dtype=np.float32) for g in synthetic]  # the same draw per σ

    def chain(gray: np.ndarray, sigma: float, n: np.ndarray) -> np.ndarray:
        g = cv2.GaussianBlur(gray, (0, 0), float(sigma)) if sigma > 0 else gray
        if a or b:
            x = g.astype(np.float32) / 255.0
            g = np.clip(np.rint((x + n * np.sqrt(a * x + b)) * 255.0), 0, 255).astype(np.uint8)
        return jpeg(g, quality)

    curve = [
        _median([sharpness(chain(g, s, n)) for g, n in zip(synthetic, noise, strict=True)]) for s in BLUR_GRID
    ]
    best = int(np.argmin([abs(s - target) for s in curve]))
    return {"sigma": float(BLUR_GRID[best]), "sharpness_after": curve[best], "sharpness_unblurred": curve[0]}


def _at_render_scale(real: list[np.ndarray], synthetic: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """The photos resized so their median short side is the renders' (and the factor used).

    Why: blur σ, aberration shift and noise are measured in pixels and applied to renders in pixels. A
    4000-px phone photo against 640-px renders would otherwise ask for six times the blur and
    aberration, and for noise that area downsampling to the render's size would have averaged away.
    """
    real_side = float(np.median([min(im.shape[:2]) for im in real]))
    scale = float(np.median([min(im.shape[:2]) for im in synthetic])) / real_side
    if abs(scale - 1.0) < 0.01:
        return real, 1.0
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = [
        cv2.resize(im, (round(im.shape[1] * scale), round(im.shape[0] * scale)), interpolation=interpolation)
        for im in real
    ]
    return resized, scale


def fit(inputs: FitInputs, out: Path) -> SensorAdapter:
    numeric_options(METHOD, inputs.options, {})  # no settings: everything is measured
    if not inputs.real_images or not inputs.synthetic_images:
        raise UserError("sensor: needs both real training images and synthetic images to compare")
    rng = np.random.default_rng(inputs.seed)
    real_paths = _sample(inputs.real_images, MAX_FIT_IMAGES, rng)
    real = [read_rgb(p) for p in tqdm(real_paths, desc="sensor: real", unit="img")]
    synthetic = [
        read_rgb(p)
        for p in tqdm(_sample(inputs.synthetic_images, MAX_FIT_IMAGES, rng), desc="sensor: synthetic")
    ]
    real, scale = _at_render_scale(real, synthetic)
    real_gray = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in real]
    synthetic_gray = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in synthetic]

    real_levels, synthetic_levels = noise_levels(real_gray), noise_levels(synthetic_gray)
    qualities = [q for q in (jpeg_quality(p) for p in real_paths) if q is not None]
    quality = int(round(_median(qualities))) if qualities else None
    a, b, noise_fit = fit_noise(synthetic_gray, real_levels, quality)
    real_sharpness = _median([sharpness(g) for g in real_gray])
    blur = fit_blur(synthetic_gray, real_sharpness, a, b, quality)
    real_ca = _median_known(
        ca_shift(im) for im in tqdm(real[:MAX_CA_IMAGES], desc="sensor: aberration (real)")
    )
    synthetic_ca = _median_known(
        ca_shift(im) for im in tqdm(synthetic[:MAX_CA_IMAGES], desc="sensor: aberration (synth)")
    )

    def per_level(levels: dict[int, float]) -> dict[str, float]:
        return {
            f"{k / LEVEL_BINS:.3f}-{(k + 1) / LEVEL_BINS:.3f}": math.sqrt(v) * 255 for k, v in levels.items()
        }

    measured = {
        "fit_images": {"real": len(real), "synthetic": len(synthetic)},
        "real_rescaled_by": scale,
        "noise": {
            "how": "Immerkær σ, flattest 30 % of the 16² blocks of each brightness bin, median, 8-bit levels",
            "real_sigma_by_level": per_level(real_levels),
            "synthetic_sigma_by_level": per_level(synthetic_levels),
            "synthetic_sigma_by_level_after_noise_and_jpeg": per_level(noise_fit.pop("levels_after", {})),
            **noise_fit,
            "whole_image_sigma": {
                "real": _median([noise_sigma(g) for g in real_gray]),
                "synthetic": _median([noise_sigma(g) for g in synthetic_gray]),
            },
        },
        "jpeg": {
            "how": "luminance quantisation table sum vs IJG's",
            "real_file_qualities": sorted(set(qualities)),
        },
        "blur": {
            "how": "var(Laplacian) / var(image), median; renders through blur → noise → JPEG",
            "real_sharpness": real_sharpness,
            **{f"synthetic_{k}": v for k, v in blur.items() if k != "sigma"},
        },
        "chromatic_aberration": {
            "how": "red/blue radial shift at the corner best aligning gradients with green, median",
            "real_px": real_ca,
            "synthetic_px": synthetic_ca,
        },
    }
    return SensorAdapter(a, b, blur["sigma"], real_ca - synthetic_ca, quality, measured)


def load(folder: Path) -> SensorAdapter:
    """The fitted adapter, its values checked: a hand-edited `blur_sigma_px: -1` failed at the first
    image, inside the renderer's sensor code, naming neither the adapter nor the key."""
    record = read_record(folder, METHOD, VERSION)
    for key in ("noise_a", "noise_b", "blur_sigma_px"):
        if not (isinstance(record[key], int | float) and math.isfinite(record[key]) and record[key] >= 0):
            raise ValueError(f"{key}: expected a finite number >= 0, got {record[key]!r}")
    aberration, quality = record["chromatic_aberration_px"], record["jpeg_quality"]
    if not (isinstance(aberration, int | float) and math.isfinite(aberration)):
        raise ValueError(f"chromatic_aberration_px: expected a finite number, got {aberration!r}")
    if quality is not None and not (isinstance(quality, int) and 1 <= quality <= 100):
        raise ValueError(f"jpeg_quality: expected null or a whole number 1..100, got {quality!r}")
    fields = ("noise_a", "noise_b", "blur_sigma_px", "chromatic_aberration_px", "jpeg_quality", "measured")
    return SensorAdapter(**{k: record[k] for k in fields})


register(METHOD, fit, load)
