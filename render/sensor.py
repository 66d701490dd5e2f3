"""Camera sensor/optics effects on the rendered RGB (bpy-free: numpy + OpenCV).

Applied after rendering so that label passes stay exact and the effects are cheap to vary. The
order follows light through a camera: auto exposure, exposure and white balance → vignetting
(optics) → chromatic aberration (optics) → blur (optics / demosaicing) → motion blur (shake) →
noise (sensor read-out) → JPEG (encoder).

Intensities are processed as floats in 0..1 on the display-referred values. Exposure therefore
multiplies display values by 2**ev (a cheap approximation of a linear exposure change, clipped at 1).
With all effects at their defaults the input array itself is returned, unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from scenesmith.procedural.description import SensorEffects


def is_identity(effects: SensorEffects) -> bool:
    """True if `effects` leaves every image unchanged (all at their defaults)."""
    return (
        effects.noise_std == 0
        and effects.blur_sigma_px == 0
        and effects.chromatic_aberration_px == 0
        and effects.vignetting == 0
        and effects.jpeg_quality is None
        and effects.exposure_ev == 0
        and effects.motion_blur_px == 0
        and tuple(effects.white_balance) == (1.0, 1.0, 1.0)
        and effects.auto_exposure_target is None
    )


def validate_effects(effects: SensorEffects) -> None:
    """ValueError for values OpenCV or the maths below would reject or silently misuse."""
    for name in ("noise_std", "blur_sigma_px", "vignetting"):
        v = getattr(effects, name)
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"sensor {name} must be finite and >= 0, got {v}")
    if effects.vignetting > 1:
        raise ValueError(f"sensor vignetting must be in [0, 1], got {effects.vignetting}")
    for name in ("chromatic_aberration_px", "exposure_ev", "motion_blur_angle_deg"):
        if not np.isfinite(getattr(effects, name)):
            raise ValueError(f"sensor {name} must be finite, got {getattr(effects, name)}")
    if not (np.isfinite(effects.motion_blur_px) and effects.motion_blur_px >= 0):
        raise ValueError(f"sensor motion_blur_px must be finite and >= 0, got {effects.motion_blur_px}")
    target = effects.auto_exposure_target
    if target is not None and not (np.isfinite(target) and 0 < target < 1):
        raise ValueError(f"sensor auto_exposure_target must be in (0, 1) or None, got {target}")
    gains = np.asarray(effects.white_balance, float)
    if gains.shape != (3,) or not np.all(np.isfinite(gains) & (gains > 0)):
        raise ValueError(f"sensor white_balance must be three positive gains, got {effects.white_balance!r}")
    q = effects.jpeg_quality
    if q is not None and not (isinstance(q, int | np.integer) and 1 <= q <= 100):
        raise ValueError(f"sensor jpeg_quality must be an int in [1, 100] or None, got {q!r}")


def _radius2(h: int, w: int) -> np.ndarray:
    """Squared distance of each pixel centre from the image centre, 1 at the image corner (H×W)."""
    y = np.arange(h) + 0.5 - h / 2
    x = np.arange(w) + 0.5 - w / 2
    return ((x[None, :] ** 2 + y[:, None] ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)).astype(np.float32)


def _radial_scale(channel: np.ndarray, shift_px: float) -> np.ndarray:
    """Scale one channel about the image centre so a corner pixel moves outward by `shift_px`."""
    h, w = channel.shape
    corner = float(np.hypot(w / 2, h / 2))
    s = (corner + shift_px) / corner
    cx, cy = w / 2, h / 2
    # remap: output(x) = input(centre + (x − centre)/s), with pixel centres at +0.5.
    xs = (np.arange(w, dtype=np.float32) + 0.5 - cx) / s + cx - 0.5
    ys = (np.arange(h, dtype=np.float32) + 0.5 - cy) / s + cy - 0.5
    mx, my = np.meshgrid(xs, ys)
    return cv2.remap(channel, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def auto_expose(img: np.ndarray, target: float) -> np.ndarray:
    """Scale the light (in linear space, display gamma ≈ 2.2) so the mean grey level becomes `target`.

    Phones meter the scene and pick an exposure; without this, random lamp power and distance make
    renders far brighter or darker than any photo. Clipped highlights stay clipped, as in a camera.
    """
    linear = np.power(img, np.float32(2.2))
    mean = float(linear.mean())
    if mean <= 1e-6:
        return img
    # Solve for the gain on the unclipped image, then clip (one fixed-point refinement for highlights).
    gain = (target**2.2) / mean
    for _ in range(3):
        shown = np.power(np.clip(linear * gain, 0.0, 1.0), np.float32(1 / 2.2)).mean()
        gain *= (target / max(float(shown), 1e-6)) ** 2.2
    return np.power(np.clip(linear * np.float32(gain), 0.0, 1.0), np.float32(1 / 2.2))


def motion_kernel(length_px: float, angle_deg: float) -> np.ndarray:
    """Normalised line kernel of `length_px` along `angle_deg` (0 = image +x), anti-aliased."""
    size = int(np.ceil(length_px)) | 1
    kernel = np.zeros((size * 4, size * 4), np.float32)  # drawn 4× larger, then shrunk: sub-pixel length
    centre = (size * 4 - 1) / 2
    dx, dy = np.cos(np.radians(angle_deg)) * length_px * 2, np.sin(np.radians(angle_deg)) * length_px * 2
    p0 = (round((centre - dx) * 16), round((centre - dy) * 16))
    p1 = (round((centre + dx) * 16), round((centre + dy) * 16))
    cv2.line(kernel, p0, p1, 1.0, thickness=4, lineType=cv2.LINE_AA, shift=4)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def apply_sensor(rgb: np.ndarray, effects: SensorEffects, rng: np.random.Generator) -> np.ndarray:
    """H×W×3 uint8 RGB → H×W×3 uint8 RGB with `effects` applied (see the module docstring).

    `rng` drives the noise only (pass np.random.default_rng(desc.seed) for reproducible images).
    Chromatic aberration scales red outward and blue inward by `chromatic_aberration_px` at the
    corners (lateral CA of a simple lens; a negative value swaps the directions).
    """
    validate_effects(effects)
    if is_identity(effects):
        return rgb
    img = rgb.astype(np.float32) / np.float32(255.0)
    h, w = img.shape[:2]
    if effects.auto_exposure_target is not None:
        img = auto_expose(img, effects.auto_exposure_target)
    if effects.exposure_ev != 0:
        img = np.clip(img * np.float32(2.0**effects.exposure_ev), 0.0, 1.0)
    if tuple(effects.white_balance) != (1.0, 1.0, 1.0):
        img = np.clip(img * np.asarray(effects.white_balance, np.float32), 0.0, 1.0)
    if effects.vignetting > 0:
        # Quadratic fall-off, reaching 1 − vignetting exactly at the corners.
        img = img * (1.0 - np.float32(effects.vignetting) * _radius2(h, w))[..., None]
    if effects.chromatic_aberration_px != 0:
        ca = float(effects.chromatic_aberration_px)
        img = np.stack(
            [
                _radial_scale(np.ascontiguousarray(img[..., 0]), ca),
                img[..., 1],
                _radial_scale(np.ascontiguousarray(img[..., 2]), -ca),
            ],
            axis=-1,
        )
    if effects.blur_sigma_px > 0:
        img = cv2.GaussianBlur(
            img, (0, 0), sigmaX=float(effects.blur_sigma_px), borderType=cv2.BORDER_REFLECT
        )
    if effects.motion_blur_px > 0:
        img = cv2.filter2D(img, -1, motion_kernel(effects.motion_blur_px, effects.motion_blur_angle_deg),
                           borderType=cv2.BORDER_REFLECT)  # fmt: skip
    if effects.noise_std > 0:
        img = img + rng.normal(0.0, effects.noise_std, img.shape).astype(np.float32)
    out = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    if effects.jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(effects.jpeg_quality)])
        if not ok:
            raise RuntimeError("OpenCV failed to JPEG-encode the image")
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out
