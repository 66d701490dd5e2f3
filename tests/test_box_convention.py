"""Box conventions: synthetic boxes redrawn the way a real set's annotators drew theirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenesmith.annotate.box_convention import BoxConvention
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.cli import main

BOX = np.array([[40.0, 50.0, 60.0, 90.0]])  # 20 wide, 40 tall, centre (50, 70)


def test_exact_leaves_boxes_alone() -> None:
    assert BoxConvention().exact
    np.testing.assert_array_equal(BoxConvention().apply(BOX, 200, 200), BOX)
    assert BoxConvention().describe() == "exact"


def test_square_grows_the_short_side_about_the_centre() -> None:
    np.testing.assert_allclose(BoxConvention(square=True).apply(BOX, 200, 200), [[30, 50, 70, 90]])


def test_padding_grows_each_side_by_its_fraction_on_both_ends() -> None:
    # width 20 → 20 × 1.2 = 24, height 40 → 48, same centre
    np.testing.assert_allclose(BoxConvention(padding=0.1).apply(BOX, 200, 200), [[38, 46, 62, 94]])
    assert BoxConvention(square=True, padding=0.075).describe() == "square, padded 0.075 of the side per end"


def test_boxes_are_clipped_to_the_image() -> None:
    np.testing.assert_allclose(BoxConvention(padding=0.5).apply(BOX, 70, 100), [[30, 30, 70, 100]])


def test_padding_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"padding must be in \[0, 1\]"):
        BoxConvention(padding=-0.1)


@given(
    x=st.floats(0, 150),
    y=st.floats(0, 150),
    w=st.floats(1, 50),
    h=st.floats(1, 50),
    square=st.booleans(),
    padding=st.floats(0, 1),
)
def test_a_redrawn_box_holds_the_exact_one_inside_the_image_about_the_same_centre(
    x: float, y: float, w: float, h: float, square: bool, padding: float
) -> None:
    exact = np.array([[x, y, x + w, y + h]], np.float32)
    drawn = BoxConvention(square, padding).apply(exact, 200, 200)[0]
    assert (drawn[:2] <= exact[0, :2] + 1e-3).all() and (drawn[2:] >= exact[0, 2:] - 1e-3).all()
    assert (drawn >= 0).all() and (drawn <= 200).all()
    if (drawn > 0).all() and (drawn < 200).all():  # not clipped
        np.testing.assert_allclose(drawn[:2] + drawn[2:], exact[0, :2] + exact[0, 2:], atol=1e-3)
        if square:
            assert drawn[2] - drawn[0] == pytest.approx(drawn[3] - drawn[1], abs=1e-3)


def test_a_detection_set_redraws_every_box_and_keeps_images_and_labels() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    sample = Sample(1, "1.png", image, BOX.astype(np.float32), np.array([2]), ignore=BOX.astype(np.float32))
    dataset = DetectionSet(("a", "b", "c"), (sample,))
    redrawn = dataset.with_boxes(BoxConvention(square=True))
    np.testing.assert_allclose(redrawn.samples[0].boxes, [[30, 50, 70, 90]])
    # A crowd (a tilted die) is drawn the same way, so its margin is not taught as background.
    np.testing.assert_allclose(redrawn.samples[0].ignore, [[30, 50, 70, 90]])
    assert redrawn.samples[0].labels.tolist() == [2] and redrawn.samples[0].image is sample.image
    assert dataset.with_boxes(BoxConvention()) is dataset


def test_the_benchmark_cli_names_a_bad_padding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--synthetic-box-padding", "1.5", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--synthetic-box-padding" in capsys.readouterr().err
