"""Atomic writes: all or nothing, numpy-aware JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenesmith.annotate.atomic import atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_failed_writer_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "depth.exr"

    def writer(tmp: Path) -> None:
        assert tmp.suffix == ".exr" and tmp.parent == target.parent
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_save(target, writer)
    assert list(target.parent.iterdir()) == []


def test_failure_keeps_previous_content(tmp_path: Path) -> None:
    """Both ways to fail: before any byte is written (JSON that cannot encode), and halfway through the
    temp file's write, where only the rename's atomicity keeps the old content."""
    target = tmp_path / "meta.json"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})
    assert target.read_text() == "old"

    def half_written(path: Path) -> None:
        path.write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_save(target, half_written)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_a_failed_write_names_the_file_written_not_its_temp_name(tmp_path: Path) -> None:
    """The CLI prints the error's file name: it named `.tmp-000002.png.mnflw7f1.png`, gone by then."""
    taken = tmp_path / "000002.png"
    taken.mkdir()  # a folder where the image goes
    with pytest.raises(IsADirectoryError) as replaced:
        atomic_write_bytes(taken, b"png")
    assert replaced.value.filename == str(taken)

    def disk_full(path: Path) -> None:
        path.write_bytes(b"part")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as full:
        atomic_save(tmp_path / "depth.exr", disk_full)
    assert full.value.filename == str(tmp_path / "depth.exr")

    def reads_a_missing_source(path: Path) -> None:
        path.write_bytes((tmp_path / "missing.png").read_bytes())

    with pytest.raises(FileNotFoundError) as missing:
        atomic_save(tmp_path / "copy.png", reads_a_missing_source)
    assert missing.value.filename == str(tmp_path / "missing.png")  # about the other file: kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000002.png"]


def test_json_handles_numpy(tmp_path: Path) -> None:
    obj = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "a": np.arange(4).reshape(2, 2),
        "t": (1, 2),
        "nan": float("nan"),
        np.int32(7): "key",
    }
    path = atomic_write_json(tmp_path / "x.json", obj)
    assert json.loads(path.read_text()) == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "a": [[0, 1], [2, 3]],
        "t": [1, 2],
        "nan": None,
        "7": "key",
    }


def test_bytes_roundtrip(tmp_path: Path) -> None:
    path = atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_killed_writers_temp_file_is_never_read_as_data_and_is_swept(tmp_path: Path) -> None:
    from scenesmith.annotate.atomic import TEMP_PREFIX, remove_stale_temp_files
    from scenesmith.annotate.dataset_writer import SAMPLE_FOLDERS, completed_indices, load_metas

    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "000000.json").write_text('{"image_id": 1}')
    (meta / f"{TEMP_PREFIX}000000.json.abc.json").write_text('{"image_id": 1}')  # what SIGKILL leaves
    assert [m["image_id"] for m in load_metas(tmp_path)] == [1]
    assert completed_indices(tmp_path) == {0}
    (tmp_path / "stats").mkdir()  # `scenesmith stats DATASET` writing its report at this moment
    writing = tmp_path / "stats" / f"{TEMP_PREFIX}stats.json.def.json"
    writing.write_text("{")
    assert remove_stale_temp_files(tmp_path, SAMPLE_FOLDERS) == 1
    assert sorted(p.name for p in meta.iterdir()) == ["000000.json"]
    assert writing.is_file()
