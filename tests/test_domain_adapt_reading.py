"""The reading loss of the learned translators: a frozen reader of the renders' semantic masks must
still read each translation as labelled. Its reader learns what it can see, the loss tells a kept
content from a rewritten one, masks travel with their crops, and a fit with it resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from scenesmith.domain_adapt import cut_train
from scenesmith.domain_adapt.adapter import FitInputs, fitter
from scenesmith.domain_adapt.images import semantic_mask_paths
from scenesmith.domain_adapt.reader import Reader, reading_loss, train_reader
from scenesmith.domain_adapt.translate import CHECKPOINT, fit_translator
from scenesmith.domain_adapt.translate_data import CropSampler
from scenesmith.errors import UserError

TOY = {"crop": 32, "ngf": 4, "ndf": 4, "blocks": 2, "tile": 32, "log_every": 1, "nce_patches": 16}
FILLED, HOLLOW = 1, 2  # the toy's two classes: a filled square and an outlined one


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def draw_square(image: np.ndarray, mask: np.ndarray, x: int, y: int, label: int) -> None:
    """A 12-px white square, filled or with a dark 8-px hole, whose whole area is labelled `label`."""
    image[y : y + 12, x : x + 12] = 230
    if label == HOLLOW:
        image[y + 2 : y + 10, x + 2 : x + 10] = 60
    mask[y : y + 12, x : x + 12] = label


def labelled_dataset(folder: Path, count: int, seed: int) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """A scenesmith-like folder (images/, masks/*_semantic.png) of 48² pictures with one square of
    each class at random places: the two classes differ only inside their outlines, as pips do."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for k in range(count):
        image = np.clip(rng.normal(60, 15, (48, 48, 3)), 0, 255).astype(np.uint8)
        mask = np.zeros((48, 48), np.uint8)
        draw_square(image, mask, int(rng.integers(0, 12)), int(rng.integers(0, 36)), FILLED)
        draw_square(image, mask, int(rng.integers(24, 36)), int(rng.integers(0, 36)), HOLLOW)
        cv2.imwrite(str(folder / "images" / f"{k:06d}.png"), image)
        cv2.imwrite(str(folder / "masks" / f"{k:06d}_semantic.png"), mask)
    images = tuple(sorted((folder / "images").iterdir()))
    return images, semantic_mask_paths(list(images))


def trained_reader(images, masks, steps: int = 150) -> tuple[Reader, dict]:
    rng = np.random.default_rng(0)
    sampler = CropSampler("synthetic", images, 48, 1.0, 100, rng, masks=masks)
    torch.manual_seed(0)
    reader = Reader(sampler.classes(), width=16)
    info = train_reader(reader, lambda: sampler.batch(8, rng), steps, torch.Generator().manual_seed(0))
    return reader, info


def tensors(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1, torch.from_numpy(mask)[
        None
    ].long()


def test_the_reader_learns_what_lies_inside_outlines_and_the_loss_sees_a_rewrite(tmp_path: Path) -> None:
    images, masks = labelled_dataset(tmp_path / "set", 24, seed=0)
    reader, info = trained_reader(images, masks)
    assert info["object_pixel_accuracy"] > 0.8
    assert not any(p.requires_grad for p in reader.parameters())  # frozen for the translator

    image, mask = np.full((48, 48, 3), 60, np.uint8), np.zeros((48, 48), np.uint8)
    draw_square(image, mask, 6, 10, FILLED)
    draw_square(image, mask, 28, 26, HOLLOW)
    kept, labels = tensors(image, mask)
    rewritten = image.copy()  # same outlines, contents swapped: the hollow one filled and vice versa
    rewritten[26:38, 28:40] = 230
    rewritten[12:20, 8:16] = 60
    swapped, _ = tensors(rewritten, mask)
    with torch.no_grad():
        assert reading_loss(reader, kept, labels) < 0.5 * reading_loss(reader, swapped, labels)


def test_masks_are_cropped_and_flipped_with_their_images(tmp_path: Path) -> None:
    images, masks = labelled_dataset(tmp_path / "set", 6, seed=1)
    sampler = CropSampler("synthetic", images, 24, 1.0, 10, np.random.default_rng(0), masks=masks)
    crops = sampler.batch(32, np.random.default_rng(1))
    assert crops.masks.shape == (32, 24, 24) and crops.masks.dtype == torch.int64
    bright = crops.images.mean(1) > 0.5  # the squares' white paint, wherever each crop was flipped to
    assert (crops.masks[bright] > 0).all()


def test_masks_of_a_dataset_folder_are_found_and_a_picture_folder_has_none(tmp_path: Path) -> None:
    images, masks = labelled_dataset(tmp_path / "set", 2, seed=2)
    assert [m.name for m in masks] == ["000000_semantic.png", "000001_semantic.png"]
    (masks[1]).unlink()
    assert semantic_mask_paths(list(images)) == ()


def test_reading_without_masks_is_refused_naming_the_option(tmp_path: Path) -> None:
    images, _ = labelled_dataset(tmp_path / "set", 2, seed=3)
    inputs = FitInputs(images, images, options={**TOY, "steps": 1, "reading_weight": 1.0}, device="cpu")
    with pytest.raises(UserError, match="reading_weight=1.0: needs a semantic mask"):
        fitter("cut")(inputs, tmp_path / "work")


def test_a_fit_with_reading_trains_its_reader_once_and_resumes_exactly(tmp_path: Path) -> None:
    """The reader is trained before step 1 and checkpointed with the translator: a resumed fit must
    neither retrain it nor draw other crops, so it ends with the weights of an uninterrupted one."""
    images, masks = labelled_dataset(tmp_path / "set", 4, seed=4)
    real, _ = labelled_dataset(tmp_path / "real", 4, seed=5)
    options = {**TOY, "steps": 4, "checkpoint_every": 2, "reading_weight": 1.0, "reader_steps": 5}
    inputs = FitInputs(images, real, seed=3, options=options, device="cpu", synthetic_masks=masks)
    straight = fit_translator("cut", inputs, tmp_path / "straight", cut_train.build, cut_train.step)
    assert straight.reader["steps"] == 5 and all("reading" in entry for entry in straight.log)
    calls = 0

    def killed_in_step_three(*args):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return cut_train.step(*args)

    with pytest.raises(KeyboardInterrupt):
        fit_translator("cut", inputs, tmp_path / "resumed", cut_train.build, killed_in_step_three)
    assert torch.load(tmp_path / "resumed" / CHECKPOINT, weights_only=True)["step"] == 2
    resumed = fit_translator("cut", inputs, tmp_path / "resumed", cut_train.build, cut_train.step)
    assert resumed.log == straight.log and resumed.reader == straight.reader
    for key, value in straight.generator.state_dict().items():
        torch.testing.assert_close(resumed.generator.state_dict()[key], value, rtol=0, atol=0)
    resumed.save(tmp_path / "model")
    assert json.loads((tmp_path / "model" / "adapter.json").read_text())["reader"] == straight.reader


def test_crops_around_objects_each_hold_a_labelled_pixel(tmp_path: Path) -> None:
    """The reader's crops: small objects in every crop, where plain random crops often miss them."""
    images, masks = labelled_dataset(tmp_path / "set", 6, seed=6)
    sampler = CropSampler("synthetic", images, 8, 1.0, 10, np.random.default_rng(0), masks=masks)
    around = sampler.batch(64, np.random.default_rng(1), around_objects=True)
    anywhere = sampler.batch(64, np.random.default_rng(1))
    assert all((mask > 0).any() for mask in around.masks)
    assert not all((mask > 0).any() for mask in anywhere.masks)
