"""Learned translators (CycleGAN, CUT) at toy sizes: they train, save, load and apply at any size,
a resumed fit ends with the very weights of an uninterrupted one, and the parts they rest on (tiling,
the edge loss, option checks) do what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from scenesmith.domain_adapt import cyclegan_train
from scenesmith.domain_adapt.adapter import FitInputs, fitter, loader
from scenesmith.domain_adapt.tiling import tiled
from scenesmith.domain_adapt.translate import CHECKPOINT, LOSSES, fit_translator
from scenesmith.domain_adapt.translate_losses import edge_loss
from scenesmith.domain_adapt.translate_options import parse_options
from scenesmith.errors import UserError

TOY = {"crop": 32, "ngf": 4, "ndf": 4, "blocks": 2, "tile": 32, "log_every": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pictures(folder: Path, colour: tuple[int, int, int], seed: int) -> tuple[Path, ...]:
    """Four 48² noisy pictures of one colour with a white square: a toy "domain"."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for k in range(4):
        image = np.clip(np.array(colour) + rng.normal(0, 20, (48, 48, 3)), 0, 255).astype(np.uint8)
        cv2.rectangle(image, (8 + k, 10), (30, 28 + k), (255, 255, 255), -1)
        cv2.imwrite(str(folder / f"{k}.png"), image)
    return tuple(sorted(folder.iterdir()))


@pytest.fixture()
def domains(tmp_path: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    return pictures(tmp_path / "synthetic", (40, 90, 200), 0), pictures(tmp_path / "real", (180, 120, 60), 1)


def toy_inputs(domains: tuple[tuple[Path, ...], tuple[Path, ...]], **options) -> FitInputs:
    return FitInputs(*domains, seed=3, options={**TOY, **options}, device="cpu")


@pytest.mark.parametrize("method", ["cyclegan", "cut"])
def test_tiny_translator_trains_saves_loads_and_applies_at_any_size(
    method: str, domains, tmp_path: Path
) -> None:
    extra = {"nce_patches": 16} if method == "cut" else {}
    adapter = fitter(method)(toy_inputs(domains, steps=3, **extra), tmp_path / "work")
    adapter.save(tmp_path / "model")
    record = json.loads((tmp_path / "model" / "adapter.json").read_text())
    assert record["method"] == method and record["steps"] == 3 and record["version"] == 1
    assert set(record["losses"]["last"]) >= {"adversarial", "edge", "critic"}
    assert len(json.loads((tmp_path / "work" / LOSSES).read_text())) == 3
    loaded = loader(method)(tmp_path / "model")
    image = np.random.default_rng(0).integers(0, 256, (53, 70, 3), dtype=np.uint8)
    out = loaded.apply(image, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(
        out, adapter.apply(image, np.random.default_rng(1))
    )  # saved = trained; no randomness


def test_a_resumed_fit_ends_with_the_weights_of_a_straight_one(domains, tmp_path: Path) -> None:
    inputs = toy_inputs(domains, steps=4, checkpoint_every=2)
    straight = fit_translator(
        "cyclegan", inputs, tmp_path / "straight", cyclegan_train.build, cyclegan_train.step
    )
    calls = 0

    def killed_in_step_three(*args):
        nonlocal calls
        calls += 1
        if calls == 3:  # steps 1–2 ran and were checkpointed
            raise KeyboardInterrupt
        return cyclegan_train.step(*args)

    with pytest.raises(KeyboardInterrupt):
        fit_translator("cyclegan", inputs, tmp_path / "resumed", cyclegan_train.build, killed_in_step_three)
    assert torch.load(tmp_path / "resumed" / CHECKPOINT, weights_only=True)["step"] == 2
    resumed = fit_translator(
        "cyclegan", inputs, tmp_path / "resumed", cyclegan_train.build, cyclegan_train.step
    )
    assert resumed.steps == 4 and resumed.log == straight.log
    for key, value in straight.generator.state_dict().items():
        torch.testing.assert_close(resumed.generator.state_dict()[key], value, rtol=0, atol=0)


def test_a_checkpoint_from_other_settings_is_refused(domains, tmp_path: Path) -> None:
    fitter("cut")(toy_inputs(domains, steps=1), tmp_path / "work")
    with pytest.raises(UserError, match="another options"):
        fitter("cut")(toy_inputs(domains, steps=1, ngf=8), tmp_path / "work")


def test_tiling_with_the_identity_gives_back_the_image_exactly() -> None:
    image = np.random.default_rng(1).integers(0, 256, (301, 517, 3)).astype(np.float32)
    out = tiled(image, lambda tile: tile, tile=128, overlap=16)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, image, atol=1e-3)


def test_tiles_each_see_a_padded_multiple_of_four() -> None:
    sizes = []
    tiled(np.zeros((70, 53, 3)), lambda tile: sizes.append(tile.shape[:2]) or tile, tile=32, overlap=8)
    assert sizes and all(h % 4 == 0 and w % 4 == 0 for h, w in sizes)


def test_edge_loss_is_zero_for_the_same_image_and_positive_for_a_shifted_one() -> None:
    image = torch.full((1, 3, 64, 64), -1.0)
    image[:, :, 16:40, 16:40] = 1.0
    assert float(edge_loss(image, image)) == pytest.approx(0.0, abs=1e-6)
    assert float(edge_loss(image, torch.roll(image, 4, dims=3))) > 0.1


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("cyclegan", {"stepz": 3}, "not a cyclegan setting"),
        ("cyclegan", {"nce_patches": 64}, "only used by cut"),
        ("cut", {"crop": 30}, "multiple of 4"),
        ("cut", {"steps": 2.5}, "whole number"),
        ("cut", {"edge_weight": "high"}, "expected a number"),
        ("cyclegan", {"scale": 0}, "positive"),
        ("cut", {"edge_weight": float("nan")}, "finite"),
        ("cyclegan", {"scale": float("inf")}, "finite"),
    ],
)
def test_bad_options_are_user_errors_naming_the_option(method: str, options: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_options(method, options)


def test_registering_the_learned_methods_does_not_import_torch() -> None:
    """The CLI lists methods at every start; torch (seconds to import) must wait for a fit or load."""
    code = "import sys, scenesmith.domain_adapt.learned_methods; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
