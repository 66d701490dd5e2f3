"""Printed product labels drawn with OpenCV: brand text, colour bands, a simple logo and a barcode.

Shared by the product generators (`products.py`, `turned.py`); registers nothing. Every image is a
pure function of the rng it is given (H×W×3 uint8 RGB, row 0 = top), so a label is as reproducible
as the mesh it is printed on. Labels only need to *read* as packaging at dataset resolutions: big
brand text, a logo, bands of colour and the barcode's stripes are what a detector learns from.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np

SYLLABLES = (
    "ka", "lo", "mi", "ra", "ve", "to", "su", "na", "pri", "zo", "ber", "fi", "ta", "go",
    "lux", "mo", "nu", "vi", "sol", "cre", "del", "ma", "or", "qui", "ne", "bo", "tri", "ly",
)  # fmt: skip
TAGLINES = ("ORIGINAL", "CLASSIC", "NATURAL", "FRESH", "BIO", "LIGHT", "EXTRA", "PREMIUM", "DAILY", "GOLD")
FONTS = (
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_SIMPLEX,
)

Color = tuple[int, int, int]


def hsv_color(rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]) -> Color:
    """A random RGB colour (0..255) with uniform hue and saturation/value in the given ranges."""
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
    return tuple(int(round(255 * c)) for c in rgb)  # type: ignore[return-value]


def canvas(width: int, height: int, color: Color) -> np.ndarray:
    """A blank H×W×3 image of one colour (faster than np.full with a colour tuple)."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = np.asarray(color, np.uint8)
    return img


def brand_name(rng: np.random.Generator) -> str:
    name = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))
    return name.upper() if rng.uniform() < 0.6 else name.capitalize()


@dataclass(frozen=True)
class LabelStyle:
    """The look of one product's packaging, shared by all of its printed faces."""

    background: Color
    band: Color
    ink: Color
    accent: Color
    brand: str
    tagline: str
    font: int
    logo: str  # 'circle' | 'ring' | 'star' | 'polygon'
    logo_sides: int


def label_style(rng: np.random.Generator) -> LabelStyle:
    """Random packaging: a light or saturated background with contrasting ink and a coloured band."""
    light_background = rng.uniform() < 0.5
    if light_background:
        background = hsv_color(rng, (0.0, 0.25), (0.85, 1.0))
        ink = hsv_color(rng, (0.6, 1.0), (0.15, 0.55))
    else:
        background = hsv_color(rng, (0.55, 1.0), (0.35, 0.95))
        ink = (255, 255, 255) if rng.uniform() < 0.7 else hsv_color(rng, (0.0, 0.3), (0.9, 1.0))
    return LabelStyle(
        background=background,
        band=hsv_color(rng, (0.5, 1.0), (0.3, 0.95)),
        ink=ink,
        accent=hsv_color(rng, (0.6, 1.0), (0.7, 1.0)),
        brand=brand_name(rng),
        tagline=str(rng.choice(TAGLINES)),
        font=int(rng.choice(FONTS)),
        logo=str(rng.choice(["circle", "ring", "star", "polygon"])),
        logo_sides=int(rng.integers(3, 8)),
    )


def fitted_text(
    img: np.ndarray, text: str, box: tuple[int, int, int, int], color: Color, font: int, bold: float = 0.08
) -> None:
    """Draw `text` centred in box (x0, y0, x1, y1), scaled to fill it without overflowing."""
    x0, y0, x1, y1 = box
    width, height = max(x1 - x0, 1), max(y1 - y0, 1)
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = max(0.1, min(width / max(tw, 1), height / max(th, 1)))
    thickness = max(1, int(round(bold * th * scale)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    origin = (x0 + (width - tw) // 2, y0 + (height + th) // 2)
    cv2.putText(img, text, origin, font, scale, color, thickness, cv2.LINE_AA)


def draw_logo(img: np.ndarray, centre: tuple[int, int], radius: int, style: LabelStyle) -> None:
    """A simple geometric logo: filled circle, ring, star or regular polygon."""
    radius = max(radius, 2)
    cx, cy = centre
    if style.logo == "circle":
        cv2.circle(img, centre, radius, style.accent, -1, cv2.LINE_AA)
        cv2.circle(img, centre, radius // 2, style.band, -1, cv2.LINE_AA)
        return
    if style.logo == "ring":
        cv2.circle(img, centre, radius, style.accent, max(2, radius // 4), cv2.LINE_AA)
        return
    sides = style.logo_sides
    if style.logo == "star":
        angles = np.arange(2 * sides) * math.pi / sides - math.pi / 2
        radii = np.where(np.arange(2 * sides) % 2 == 0, radius, radius * 0.45)
    else:
        angles = np.arange(sides) * 2 * math.pi / sides - math.pi / 2
        radii = np.full(sides, radius)
    points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    cv2.fillPoly(img, [np.round(points).astype(np.int32)], style.accent, cv2.LINE_AA)


def draw_barcode(img: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """A white patch with black stripes of random widths (an EAN look-alike)."""
    x0, y0, x1, y1 = box
    cv2.rectangle(img, (x0, y0), (x1, y1), (255, 255, 255), -1)
    pad = max(1, (x1 - x0) // 12)
    x = x0 + pad
    while x < x1 - pad:
        width = int(rng.integers(1, 4)) * max(1, (x1 - x0) // 60)
        if rng.uniform() < 0.5:
            cv2.rectangle(img, (x, y0 + pad), (min(x + width, x1 - pad), y1 - pad), (0, 0, 0), -1)
        x += width


def front_panel(style: LabelStyle, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The face shoppers see: bands, logo, brand name and a tagline."""
    width, height = size
    img = canvas(width, height, style.background)
    band = int(height * rng.uniform(0.08, 0.18))
    cv2.rectangle(img, (0, height - band), (width, height), style.band, -1)
    if rng.uniform() < 0.6:
        cv2.rectangle(img, (0, 0), (width, band // 2), style.band, -1)
    if rng.uniform() < 0.5:  # a diagonal swoosh of accent colour
        y = int(height * rng.uniform(0.55, 0.75))
        pts = np.array([[0, y], [width, y - height // 8], [width, y], [0, y + height // 10]], np.int32)
        cv2.fillPoly(img, [pts], style.accent, cv2.LINE_AA)
    logo_r = int(min(width, height) * rng.uniform(0.1, 0.18))
    draw_logo(img, (width // 2, int(band // 2 + logo_r * 1.4)), logo_r, style)
    top = int(band // 2 + logo_r * 2.6)
    fitted_text(
        img, style.brand, (width // 12, top, width - width // 12, top + height // 5), style.ink, style.font
    )
    line = top + height // 5 + height // 30
    fitted_text(
        img, style.tagline, (width // 4, line, 3 * width // 4, line + height // 14), style.ink, style.font
    )
    return img


def back_panel(style: LabelStyle, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Small print (grey lines standing in for text) and a barcode."""
    width, height = size
    img = canvas(width, height, style.background)
    fitted_text(
        img, style.brand, (width // 10, height // 20, 9 * width // 10, height // 7), style.ink, style.font
    )
    y = height // 5
    step = max(3, height // 28)
    while y < height * 0.65:
        length = int(width * rng.uniform(0.4, 0.85))
        cv2.line(img, (width // 10, y), (width // 10 + length, y), style.ink, max(1, step // 3))
        y += step
    bw, bh = width // 2, height // 6
    draw_barcode(img, (width // 4, int(height * 0.75), width // 4 + bw, int(height * 0.75) + bh), rng)
    return img


def side_panel(style: LabelStyle, size: tuple[int, int]) -> np.ndarray:
    """A narrow side: a band and the brand written bottom-to-top."""
    width, height = size
    rotated = canvas(height, width, style.band)  # drawn sideways, then rotated
    fitted_text(
        rotated,
        style.brand,
        (height // 10, width // 5, 9 * height // 10, 4 * width // 5),
        style.ink,
        style.font,
    )
    return cv2.rotate(rotated, cv2.ROTATE_90_COUNTERCLOCKWISE)


def wrap_label(style: LabelStyle, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A label that wraps a cylinder: the front panel in the middle (u = 0.5 faces the viewer),
    small print and a barcode towards the seam at the back."""
    width, height = size
    img = canvas(width, height, style.background)
    band = int(height * rng.uniform(0.06, 0.16))
    cv2.rectangle(img, (0, 0), (width, band), style.band, -1)
    cv2.rectangle(img, (0, height - band), (width, height), style.band, -1)
    front_w = width // 2
    front = front_panel(style, (front_w, height), rng)
    img[:, width // 4 : width // 4 + front_w] = front
    bw = max(8, width // 10)
    draw_barcode(img, (width // 20, height // 3, width // 20 + bw, height // 3 + height // 4), rng)
    x = int(width * 0.8)
    for y in range(height // 4, int(height * 0.7), max(3, height // 20)):
        cv2.line(img, (x, y), (x + int(width * rng.uniform(0.06, 0.14)), y), style.ink, 1)
    return img


def band_label(style: LabelStyle, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A decorative band (vases, cups): repeated logos between stripes, no text."""
    width, height = size
    img = canvas(width, height, style.background)
    stripe = max(2, height // 10)
    cv2.rectangle(img, (0, 0), (width, stripe), style.band, -1)
    cv2.rectangle(img, (0, height - stripe), (width, height), style.band, -1)
    repeats = int(rng.integers(4, 10))
    radius = int(min(height * 0.3, width / repeats * 0.35))
    for i in range(repeats):
        draw_logo(img, (int((i + 0.5) * width / repeats), height // 2), radius, style)
    return img
