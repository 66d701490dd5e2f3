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
