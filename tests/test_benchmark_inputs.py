"""Benchmark inputs: archive restore, and the real photos a run trains and scores on."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenesmith.benchmark.archive import archive_runs, restore_runs
from scenesmith.errors import UserError


def _files(folder: Path, names: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in names.items():
        (folder / name).write_text(text)
    return folder


def test_restoring_over_a_part_trained_run_drops_its_weights_and_state(tmp_path: Path) -> None:
    """Its best.pt beside the finished run's result.json would be scored as the finished run's."""
    archive, run = tmp_path / "archive", tmp_path / "run"
    for folder in (archive, run):
        _files(folder, {"config.json": "{}"})
    finished = {"result.json": "{}", "test.json": "{}", "real_val.json": "{}"}
    _files(archive / "arms/real_100/seed0", finished)
    _files(archive / "arms/synthetic_only/seed0", finished | {"best.pt": "pretrained"})
    _files(run / "arms/real_100/seed0", {"best.pt": "step 2", "state.pt": "step 2", "box_factor.json": "{}"})
    _files(run / "arms/synthetic_only/seed0", {"best.pt": "step 2", "state.pt": "step 2"})
    assert restore_runs(archive, run) == ["real_100/seed0", "synthetic_only/seed0"]
    assert sorted(p.name for p in (run / "arms/real_100/seed0").iterdir()) == sorted(finished)
    pretraining = run / "arms/synthetic_only/seed0"
    assert sorted(p.name for p in pretraining.iterdir()) == sorted([*finished, "best.pt"])
    assert (pretraining / "best.pt").read_text() == "pretrained"


def test_an_archive_cut_short_is_completed_by_the_same_command(tmp_path: Path, monkeypatch) -> None:
    """Cut short after its first run: the settings were copied last, and the folder was refused for good."""
    from scenesmith.benchmark import archive as archive_module

    run = _files(tmp_path / "run", {"config.json": "{}"})
    finished = {"result.json": "{}", "test.json": "{}", "real_val.json": "{}"}
    for arm in ("real_10", "real_100"):
        _files(run / f"arms/{arm}/seed0", finished)
    real_copy, copies = archive_module._copy_files, []

    def cut_short(origin: Path, target: Path, names) -> None:
        if copies:
            raise KeyboardInterrupt
        copies.append(origin)
        real_copy(origin, target, names)

    monkeypatch.setattr(archive_module, "_copy_files", cut_short)
    with pytest.raises(KeyboardInterrupt):
        archive_runs(run, tmp_path / "archive")
    monkeypatch.setattr(archive_module, "_copy_files", real_copy)
    assert archive_runs(run, tmp_path / "archive") == ["real_10/seed0", "real_100/seed0"]


def test_archiving_into_or_restoring_into_a_folder_of_something_else_is_refused(tmp_path: Path) -> None:
    """A dataset folder got a config.json (and restored runs) beside its images."""
    archive = _files(tmp_path / "archive", {"config.json": "{}"})
    dataset = _files(tmp_path / "dataset", {"manifest.json": "{}"})
    with pytest.raises(
        UserError, match="dataset: not empty and neither a benchmark run folder nor an archive"
    ):
        restore_runs(archive, dataset)
    with pytest.raises(UserError, match="images: not empty and neither"):
        archive_runs(archive, _files(dataset / "images", {"000000.png": "pixels"}))
    assert sorted(p.name for p in dataset.iterdir()) == ["images", "manifest.json"]
    assert restore_runs(archive, tmp_path / "new_run") == []  # a new folder is fine


def _photos(root: Path, names: list[str], splits: list[str] | None = None, seed: int = 0) -> Path:
    """A COCO file of small random 'photos', one box each."""
    import json

    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for k, name in enumerate(names):
        cv2.imwrite(str(root / "images" / name), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
        images.append({"id": k + 1, "file_name": name, "width": 32, "height": 32})
        if splits:
            images[-1]["split"] = splits[k]
        annotations.append(
            {"id": k + 1, "image_id": k + 1, "category_id": 1, "bbox": [4, 4, 8, 8], "area": 64}
        )
    path = root / "annotations.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]})
    )
    return path


def test_real_train_and_test_may_share_no_photo(tmp_path: Path) -> None:
    """--real-train takes only the train split of a file that marks splits; a test photo among the
    training photos (the same file given twice, or a copy under another name) is refused: every score
    would be on seen data."""
    from types import SimpleNamespace

    import pytest

    from scenesmith.benchmark.runner import _load_real
    from scenesmith.errors import UserError

    def load(train: Path, test: Path):  # noqa: ANN202
        return _load_real(SimpleNamespace(real=None, real_train=train, real_test=test))

    marked = _photos(tmp_path / "marked", ["a.png", "b.png", "c.png"], ["train", "train", "test"])
    unseen = _photos(tmp_path / "unseen", ["x.png", "y.png"], seed=1)
    train, test = load(marked, unseen)
    assert [s.file_name for s in train.samples] == ["a.png", "b.png"] and len(test.samples) == 2
    with pytest.raises(UserError, match="shares 2 photos with the training set"):
        load(unseen, unseen)
    renamed = _photos(tmp_path / "renamed", ["renamed.png"], seed=1)  # x.png's pixels, another name
    with pytest.raises(UserError, match=r"shares 1 photos .*\(train = test: renamed.png = x.png\)"):
        load(renamed, unseen)


def test_a_real_test_file_gives_its_test_split_and_the_train_files_classes(tmp_path: Path) -> None:
    """--real-test took a split-marked file's train photos too, and a test file numbering the same classes
    otherwise was scored by the train file's class indices: a perfect detector read every die wrong."""
    import json
    from types import SimpleNamespace

    from scenesmith.benchmark.runner import _load_real

    def load(train: Path, test: Path):  # noqa: ANN202
        return _load_real(SimpleNamespace(real=None, real_train=train, real_test=test))

    unseen = _photos(tmp_path / "unseen", ["x.png", "y.png"], seed=1)
    marked = _photos(tmp_path / "marked", ["a.png", "b.png", "c.png"], ["train", "train", "test"])
    train, test = load(unseen, marked)
    assert len(train.samples) == 2 and [s.file_name for s in test.samples] == ["c.png"]
    coco = json.loads(marked.read_text())
    coco["categories"] = [{"id": 1, "name": "b"}]
    marked.write_text(json.dumps(coco))
    with pytest.raises(UserError, match=r"--real-test .* has the classes \['b'\], --real-train .* \['a'\]"):
        load(unseen, marked)


@pytest.mark.parametrize("damaged", ["{", "{}", "[]"])
def test_a_damaged_result_json_is_named_with_what_to_do(tmp_path: Path, damaged: str) -> None:
    """A result.json cut short or emptied was a JSONDecodeError or KeyError('steps') in the report."""
    from scenesmith.benchmark.train import read_result

    path = _files(tmp_path / "arms/real_10/seed0", {"result.json": damaged}) / "result.json"
    with pytest.raises(UserError, match=r"seed0/result\.json: damaged .*delete that run's folder"):
        read_result(path)
