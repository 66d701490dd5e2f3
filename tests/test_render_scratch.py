"""Render temp folders: an owner that dies (however it dies) leaves a folder the next owner removes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from scenesmith.render.scratch import OWNER_LOCK, SCRATCH_PREFIX, Scratch, sweep_abandoned


@pytest.fixture()
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_new_folder_removes_the_abandoned_ones_and_keeps_the_live_ones(
    temp_root: Path, abandoned_scratch
) -> None:
    dead = abandoned_scratch(temp_root)
    live = Scratch()
    being_made = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))  # no lock file yet: its maker is at work
    newest = Scratch()
    assert not dead.exists()
    assert live.path.is_dir() and being_made.is_dir() and newest.path.is_dir()
    assert sweep_abandoned() == 0
    live.release()
    assert not live.path.exists()
    newest.release()


def test_a_folder_a_temp_cleaner_removed_is_made_and_claimed_again(temp_root: Path) -> None:
    scratch = Scratch()
    shutil.rmtree(scratch.path)
    assert scratch.ensure() == scratch.path and (scratch.path / OWNER_LOCK).is_file()
    assert sweep_abandoned() == 0 and scratch.path.is_dir()  # claimed: not taken for an abandoned one
    scratch.release()


def test_a_folder_this_user_may_not_enter_is_left_alone(
    temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's folder in a shared /tmp: Python 3.11's is_file raises on it, which stopped every
    pool from starting; it is simply not ours to sweep."""
    foreign = temp_root / f"{SCRATCH_PREFIX}other_user"
    (foreign / OWNER_LOCK).parent.mkdir()
    real_is_file = Path.is_file

    def is_file(path: Path) -> bool:
        if path.parent == foreign:
            raise PermissionError(13, "Permission denied", str(path))
        return real_is_file(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    assert sweep_abandoned() == 0 and foreign.is_dir()
    Scratch().release()
