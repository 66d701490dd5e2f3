"""Fourier domain adaptation (Yang & Soatto, CVPR 2020): real low-frequency amplitude, synthetic phase.

Why it suits labels: the phase spectrum carries where edges and shapes are, the low-frequency
amplitude carries global colour, illumination gradients and tone. Swapping only the latter moves a
render's overall look toward a photo while every object stays exactly where its mask says.

The real amplitudes are stored per photo as a small centred block of log-amplitudes, measured on
the photo resized to a fixed working size (256²) and indexed in cycles per image, normalised by
pixel count: one bank then serves renders of any size, and frequency k of a render gets the
amplitude of frequency k of the (resized) photo. The band swapped in an H×W image is
|ky|, |kx| < round(beta · min(H, W)) cycles. The paper swaps |k| ≤ floor(beta · min(H, W)), which
always includes the mean colour; our band differs by at most one ring and makes beta = 0 swap
nothing, so beta = 0 is exactly the identity.

Default beta 0.01 (|k| < 6 cycles at 640 px: mean colour, tone and the broadest light gradients):
the paper's segmentation results used 0.01–0.09, but its scenes fill the frame; our renders are
mostly plain tray, where larger bands start to print the photo's own layout (a ghost of its tray
rim and light fall-off) onto the render.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from scenesmith.annotate.atomic import atomic_save, atomic_write_json
from scenesmith.domain_adapt.adapter import ADAPTER_FILE, FitInputs, register
from scenesmith.domain_adapt.images import read_rgb
from scenesmith.domain_adapt.settings import check_range, numeric_options, read_record
from scenesmith.errors import UserError

METHOD = "fda"
VERSION = 1
WORKING_SIZE = 256  # real photos are resized to this square before their spectrum is taken
BANK_CYCLES = 48  # stored band half-width: beta up to 0.075 at 640 px
BANK_SIZE = 64  # real photos kept in the bank
BANK_FILE = "fda_bank.npz"
DEFAULT_BETA = 0.01


def low_frequency_block(image: np.ndarray, cycles: int = BANK_CYCLES) -> np.ndarray:
    """(2c+1)×(2c+1)×3 log-amplitude block centred on DC, per pixel (size-independent units).

    Taken at the working size, so a photo of any size (even one smaller than the block) has one.
    """
    shrink = min(image.shape[:2]) > WORKING_SIZE
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    image = cv2.resize(image, (WORKING_SIZE, WORKING_SIZE), interpolation=interpolation)
    height, width = image.shape[:2]
    spectrum = np.fft.fftshift(np.fft.fft2(image.astype(np.float64), axes=(0, 1)), axes=(0, 1))
    cy, cx = height // 2, width // 2
    block = np.abs(spectrum[cy - cycles : cy + cycles + 1, cx - cycles : cx + cycles + 1]) / (height * width)
    return np.log(block + 1e-12).astype(np.float32)


def band_cycles(beta: float, height: int, width: int, stored: int = BANK_CYCLES) -> int:
    """Half-width of the swapped band, |k| < band, in cycles per image; UserError past the bank."""
    band = int(round(beta * min(height, width)))
    if band > stored:
        raise UserError(
            f"fda beta {beta} needs {band} cycles at {width}×{height} px, the bank holds {stored}; fit with "
            f"--option beta={stored / min(height, width):.3f} or less for images of this size"
        )
    return band


def swap_low_frequencies(image: np.ndarray, real_block: np.ndarray, beta: float) -> np.ndarray:
    """`image` with the amplitude of its |k| < round(beta·min(H,W)) band taken from `real_block`."""
    height, width = image.shape[:2]
    stored = (real_block.shape[0] - 1) // 2
    band = band_cycles(beta, height, width, stored)
    if band == 0:
        return image
    spectrum = np.fft.fftshift(np.fft.fft2(image.astype(np.float64), axes=(0, 1)), axes=(0, 1))
    cy, cx = height // 2, width // 2
    window = spectrum[cy - band + 1 : cy + band, cx - band + 1 : cx + band]
    amplitude = np.exp(real_block[stored - band + 1 : stored + band, stored - band + 1 : stored + band])
    phase = np.angle(window)
    spectrum[cy - band + 1 : cy + band, cx - band + 1 : cx + band] = (
        amplitude * height * width * np.exp(1j * phase)
    )
    out = np.fft.ifft2(np.fft.ifftshift(spectrum, axes=(0, 1)), axes=(0, 1)).real
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass
class FdaAdapter:
    """A bank of real low-frequency amplitudes; each image gets one photo's, drawn by `rng`."""

    bank: np.ndarray  # N × (2c+1) × (2c+1) × 3 log-amplitudes
    beta: float
    fitted_on: dict
    method: str = METHOD

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return swap_low_frequencies(image, self.bank[rng.integers(len(self.bank))], self.beta)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_save(
            folder / BANK_FILE, lambda path: np.savez_compressed(path, bank=self.bank.astype(np.float16))
        )
        record = {"method": METHOD, "version": VERSION, "beta": self.beta, "fitted_on": self.fitted_on}
        atomic_write_json(folder / ADAPTER_FILE, record)  # last: the folder is complete once it exists


def fit(inputs: FitInputs, out: Path) -> FdaAdapter:
    options = numeric_options(METHOD, inputs.options, {"beta": DEFAULT_BETA})
    beta = options["beta"]
    check_range(METHOD, "beta", beta, 0.0, 0.5)
    if not inputs.real_images:
        raise UserError("fda: no real training images to take spectra from")
    if inputs.synthetic_images:  # fail now, not after fitting, when the renders need a wider band
        band_cycles(beta, *read_rgb(inputs.synthetic_images[0]).shape[:2])
    rng = np.random.default_rng(inputs.seed)
    chosen = sorted(
        rng.choice(len(inputs.real_images), min(BANK_SIZE, len(inputs.real_images)), replace=False)
    )
    blocks = [
        low_frequency_block(read_rgb(inputs.real_images[i]))
        for i in tqdm(chosen, desc="fda: real spectra", unit="img")
    ]
    fitted_on = {
        "real_images": len(inputs.real_images),
        "bank_images": len(blocks),
        "working_size": WORKING_SIZE,
        "bank_cycles": BANK_CYCLES,
    }
    bank = np.stack(blocks).astype(np.float16).astype(np.float32)  # as saved: a reload applies the same
    return FdaAdapter(bank, beta, fitted_on)


def load(folder: Path) -> FdaAdapter:
    record = read_record(folder, METHOD, VERSION)
    with np.load(folder / BANK_FILE) as data:
        bank = data["bank"].astype(np.float32)
    return FdaAdapter(bank, float(record["beta"]), record["fitted_on"])


register(METHOD, fit, load)
