"""Test-time augmentation (`--tta dihedral`): the eight turns and flips of an image are scored and their
maps turned back onto the image before averaging. A map turned back the wrong way lands on other cells,
and a quarter turn that is not undone on the box size swaps width and height: both are checked with
models whose right answer is known."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scenesmith.benchmark.tta import dihedral_outputs, outputs_for


class CellwiseDetector(nn.Module):
    """Every map is a per-cell function of the image averaged over each stride-4 cell, so turning or
    flipping the image turns or flips every map the same way: the dihedral average equals the plain
    output exactly (its box size is the same in both channels, so a quarter turn cannot swap it)."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        cells = F.avg_pool2d(images, 4)
        return {
            "heatmap": 4 * cells[:, :1],
            "classes": 6 * cells,
            "size": (10 + cells[:, 1:2]).repeat(1, 2, 1, 1),
            "offset": cells[:, 1:],
        }


class StripeSizeDetector(nn.Module):
    """Box width from the image's left-right changes, height from its up-down changes, the same in
    every cell: an image of horizontal stripes gives a flat, wide box, and turned a quarter a tall one."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        across = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
        down = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
        batch, _, height, width = images.shape
        cells = torch.zeros(batch, 1, height // 4, width // 4)
        size = torch.stack([across, down]).view(1, 2, 1, 1).expand(batch, 2, height // 4, width // 4)
        return {"heatmap": cells, "classes": cells.repeat(1, 3, 1, 1), "size": size, "offset": cells}


def test_an_equivariant_model_gets_its_own_maps_back_on_an_asymmetric_image() -> None:
    image = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    model = CellwiseDetector()
    plain, averaged = model(image), dihedral_outputs(model, image)
    for key in ("heatmap", "size", "offset"):
        assert averaged[key].shape == plain[key].shape
        torch.testing.assert_close(averaged[key], plain[key], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(averaged["classes"].softmax(1), plain["classes"].softmax(1))


def test_a_quarter_turn_swaps_the_box_size_back() -> None:
    stripes = torch.zeros(1, 3, 32, 32)
    stripes[:, :, ::2] = 1.0  # rows alternate: nothing changes left to right, everything top to bottom
    model = StripeSizeDetector()
    width, height = model(stripes)["size"][0, :, 0, 0]
    assert width == 0 and height > 0
    torch.testing.assert_close(dihedral_outputs(model, stripes)["size"], model(stripes)["size"])


def test_class_probabilities_are_averaged_over_the_views() -> None:
    """A reader that answers from which way the stripes run is right in half of the eight views."""

    class StripeReader(StripeSizeDetector):
        def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
            outputs = super().forward(images)
            across, down = outputs["size"][:, :1], outputs["size"][:, 1:]
            return {**outputs, "classes": 50 * torch.cat([across, down], dim=1)}

    stripes = torch.zeros(1, 3, 16, 16)
    stripes[:, :, ::2] = 1.0
    probabilities = dihedral_outputs(StripeReader(), stripes)["classes"].softmax(1)
    torch.testing.assert_close(probabilities, torch.full_like(probabilities, 0.5))


def test_no_tta_is_the_model_itself_and_an_unknown_one_is_refused() -> None:
    image = torch.rand(1, 3, 16, 16)
    model = CellwiseDetector()
    assert torch.equal(outputs_for(model, image, "none")["classes"], model(image)["classes"])
    with pytest.raises(ValueError, match="dihedral"):
        outputs_for(model, image, "sideways")


def test_the_cli_offers_the_choices_without_importing_torch() -> None:
    """Every `scenesmith` command builds the benchmark parser, whose `--tta` lists these choices; torch
    (seconds to import) must wait for a command that scores."""
    code = (
        "import sys; from scenesmith.cli import main\n"
        "try:\n    main(['benchmark', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
