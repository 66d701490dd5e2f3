"""Publishing a run: every picture the report links is copied as NAME_<picture>, and the links follow; a
report's folder and its published copy keep no picture the report does not show."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scenesmith.benchmark.publish import publish_run, shown_pictures
from scenesmith.benchmark.report import write_report
from scenesmith.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "publish_benchmark.py"
RESULT = ROOT / "benchmark" / "results" / "dice.json"  # a full report, every key a real run writes
PICTURES = ["bars.png", "curves.png", "reading.png", "predictions.jpg"]
SHEETS = ["misreads_synthetic_to_10.jpg", "pseudo_labels_synthetic_to_10_selftrain.jpg"]


def _run_folder(tmp_path: Path) -> Path:
    """A headline run without a sweep: it drew no fraction curve."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text(json.dumps({"arms": {}}))
    links = "\n".join(f"![{name}]({name})" for name in PICTURES + SHEETS)
    (run / "report.md").write_text(f"# Report\n\n{links}\n\nSee [the data](data/bars.png).\n")
    for name in PICTURES + SHEETS:
        (run / name).write_bytes(name.encode())
    (run / "state.json").write_text("{}")  # not a picture: stays behind
    return run


def test_a_run_is_published_with_every_picture_renamed_and_linked(tmp_path: Path) -> None:
    run, dest = _run_folder(tmp_path), tmp_path / "results"
    dest.mkdir()
    publish_run(run, "dice", dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["dice.json", "dice.md", *(f"dice_{name}" for name in PICTURES + SHEETS)]
    )
    assert all((dest / f"dice_{name}").read_bytes() == name.encode() for name in PICTURES + SHEETS)
    links = re.findall(r"\]\(([^)]+)\)", (dest / "dice.md").read_text())
    assert links == [f"dice_{name}" for name in PICTURES + SHEETS] + ["data/bars.png"]
    assert all((dest / link).is_file() for link in links[:-1])


def test_the_publish_script_runs_from_any_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "the published name" in result.stdout


def test_a_republished_name_keeps_no_picture_of_the_run_before(tmp_path: Path) -> None:
    """An earlier run's sheet under the same name sat beside the new report as if it were its own; other
    names' files (an archived dice_2026-12-05_bars.png, dice_adapt.json) stay."""
    run, dest = _run_folder(tmp_path), tmp_path / "results"
    dest.mkdir()
    others = ["dice_2026-12-05_bars.png", "dice_adapt.json", "dice_cut_adapt_examples.jpg", "dices_bars.png"]
    for name in ["dice_fractions.png", "dice_misreads_real_10.jpg", *others]:
        (dest / name).write_text("earlier")
    publish_run(run, "dice", dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["dice.json", "dice.md", *(f"dice_{name}" for name in PICTURES + SHEETS), *others]
    )


def test_publishing_a_folder_without_a_report_says_so_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "dice"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    expected = (
        f"publish_benchmark: {tmp_path}: no report.json and report.md; run the benchmark (or --report-only)"
    )
    assert result.stderr.strip() == expected


def test_a_picture_in_the_run_folder_that_the_report_does_not_show_is_not_published(tmp_path: Path) -> None:
    run, dest = _run_folder(tmp_path), tmp_path / "results"
    dest.mkdir()
    (run / "fractions.png").write_bytes(b"an earlier report's sweep")
    publish_run(run, "dice", dest)
    assert not (dest / "dice_fractions.png").exists()


def test_a_report_showing_a_picture_the_folder_lacks_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    run, dest = _run_folder(tmp_path), tmp_path / "results"
    dest.mkdir()
    (run / "reading.png").unlink()
    with pytest.raises(UserError, match=r"report.md shows reading.png, not in the folder"):
        publish_run(run, "dice", dest)
    assert list(dest.iterdir()) == []


def test_a_report_leaves_no_picture_it_does_not_show_in_its_folder(tmp_path: Path) -> None:
    """Pictures an earlier report drew (a reading matrix, predictions, another arm's misreads) and this one
    does not show are removed with its writing; the sheets it links stay."""
    report = json.loads(RESULT.read_text())
    for arm in report["arms"].values():
        arm.pop("test_reading", None)
    report["prediction_sheet"] = None
    report["misread_sheets"] = {"synthetic_only": {"file": "misreads_synthetic_only.jpg", "misread": 3}}
    for name in ["reading.png", "predictions.jpg", "misreads_real_10.jpg", "misreads_synthetic_only.jpg"]:
        (tmp_path / name).write_bytes(b"drawn before")
    (tmp_path / "notes.png").write_bytes(b"not a report picture")
    write_report(report, [], tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "reading.png" not in text and "predictions.jpg" not in text
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".png", ".jpg")) == sorted(
        shown_pictures(text) + ["notes.png"]
    )
    assert "misreads_synthetic_only.jpg" in shown_pictures(text)
