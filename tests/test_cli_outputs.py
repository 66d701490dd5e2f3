"""Output paths are checked when the command line is read, before any work, and never land among a
dataset's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenesmith.cli import build_parser


@pytest.fixture()
def places(tmp_path: Path) -> Path:
    (tmp_path / "dataset" / "meta").mkdir(parents=True)
    (tmp_path / "dataset" / "manifest.json").write_text("{}")
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "afolder").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sheet", "{d}/dataset", "--out", "{d}/dataset/annotations.json"],
         "write over the annotations.json"),
        (["stats", "{d}/dataset", "--out", "{d}/dataset/meta"], "write over the meta of dataset"),
        (["preview", "dice_tray", "--out", "{d}/afile/x.png"], "afile is a file, expected a folder"),
        (["sweep", "dice_tray", "--vary", "camera.tilt_deg", "--values", "0", "--out", "{d}/afolder"],
         "afolder: is a folder, expected a file path"),
        (["gap", "{d}/a", "{d}/b", "--out", "{d}/afile"], "afile: is a file, expected a folder"),
        (["generate", "dice_tray", "--count", "1", "--out", "{d}/afile"],
         "afile: is a file, expected a folder"),
        (["generate", "dice_tray", "--count", "1", "--out", "{d}/dataset/images"], "write over the images"),
        (["doctor", "--json", "{d}/dataset/manifest.json"], "write over the manifest.json"),
    ],
)  # fmt: skip
def test_an_output_that_cannot_or_must_not_be_written_is_refused_at_once(
    places: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([part.format(d=places) for part in argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_outputs_beside_a_dataset_or_in_its_stats_folder_are_fine(places: Path) -> None:
    stats = places / "dataset/stats"
    args = build_parser().parse_args(["stats", str(places / "dataset"), "--out", str(stats)])
    assert args.out == stats
    args = build_parser().parse_args(["sheet", str(places / "dataset"), "--out", str(places / "sheet.png")])
    assert args.out == places / "sheet.png"
