"""One writer per dataset folder: a second run is refused at once, a killed one leaves the folder free."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scenesmith.annotate.atomic import TEMP_PREFIX
from scenesmith.annotate.writer_lock import WRITER_LOCK, exclusive_writer, holds_files
from scenesmith.errors import UserError
from scenesmith.file_lock import try_lock
from scenesmith.pipeline import generate_dataset

TINY = ["render.resolution=[48, 48]", "render.denoise=false"]


def test_generate_into_a_folder_another_run_writes_is_refused_before_rendering(tmp_path: Path) -> None:
    out = tmp_path / "set"
    out.mkdir()
    held = try_lock(out / WRITER_LOCK)  # the other run (flock: another open file conflicts here too)
    assert held is not None
    with pytest.raises(UserError, match=rf"{out}: another scenesmith run is writing into this folder"):
        generate_dataset("dice_tray", TINY, count=1, out_dir=out, progress=False)
    assert [p.name for p in out.iterdir()] == [WRITER_LOCK]  # nothing written beside the other run
    held.close()
    generate_dataset("dice_tray", TINY, count=1, out_dir=out, progress=False)  # the lock file is no content
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_a_killed_writer_leaves_the_folder_free(tmp_path: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from scenesmith.annotate.writer_lock import WRITER_LOCK
        from scenesmith.file_lock import try_lock
        handle = try_lock(Path({str(tmp_path)!r}) / WRITER_LOCK)
        print("held" if handle else "refused", flush=True)
        time.sleep(60)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match="another scenesmith run"), exclusive_writer(tmp_path):
            pass
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    with exclusive_writer(tmp_path):  # the OS dropped the dead run's lock
        pass


def test_a_folder_the_writer_made_is_removed_when_it_wrote_nothing(tmp_path: Path) -> None:
    made = tmp_path / "parent" / "new"
    with pytest.raises(UserError, match="refused"), exclusive_writer(made):
        (made / f"{TEMP_PREFIX}half.png").write_bytes(b"killed mid-write")
        raise UserError("refused")
    assert not made.exists()
    with exclusive_writer(made):
        (made / "manifest.json").write_text("{}")
    assert sorted(p.name for p in made.iterdir()) == [WRITER_LOCK, "manifest.json"]
    found = tmp_path / "found"
    found.mkdir()
    with exclusive_writer(found):
        pass
    assert found.is_dir()  # the user's folder stays, empty or not


def test_only_what_a_run_wrote_counts_as_content(tmp_path: Path) -> None:
    assert not holds_files(tmp_path / "absent")
    (tmp_path / WRITER_LOCK).touch()
    (tmp_path / f"{TEMP_PREFIX}manifest.json.x").touch()
    assert not holds_files(tmp_path)
    (tmp_path / "notes.txt").touch()
    assert holds_files(tmp_path)


def test_a_file_system_without_flock_is_named_not_taken_for_another_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only "held" means another run: ENOSYS (a mount without flock) would refuse every run forever as
    "another run is writing", and the folder this call made must not stay behind."""
    import errno
    import fcntl

    def no_flock(*_: object) -> None:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    made = tmp_path / "new"
    with pytest.raises(UserError, match=r"\.writer\.lock: cannot lock it .*may not support flock"):
        with exclusive_writer(made):
            pass
    assert not made.exists()


def test_a_lock_taken_on_a_file_its_holder_just_removed_is_taken_again_on_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder removes the lock file as it lets go; a run that opened the old file in between must
    not hold that orphan while a third run locks the new file: both would write."""
    import fcntl
    import os

    path = tmp_path / WRITER_LOCK
    real_flock, calls = fcntl.flock, []

    def flock_after_removal(handle, operation: int) -> None:  # noqa: ANN001
        calls.append(operation)
        if len(calls) == 1:  # between our open and our lock, the old holder cleaned up
            path.unlink()
        real_flock(handle, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_removal)
    handle = try_lock(path)
    assert handle is not None and len(calls) == 2
    assert os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    handle.close()


def test_a_refused_run_leaves_no_lock_file_in_a_folder_it_found(tmp_path: Path) -> None:
    found = tmp_path / "mine"
    found.mkdir()
    with pytest.raises(UserError, match="refused"), exclusive_writer(found):
        raise UserError("refused")
    assert found.is_dir() and list(found.iterdir()) == []


def test_a_run_clears_its_manifest_after_everything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second Ctrl-C while a failed first run cleared its folder could leave images without their
    manifest: a folder of no dataset, refused by every rerun."""
    from scenesmith.annotate import writer_lock

    for name in ("annotations.json", "manifest.json", "zz.json"):
        (tmp_path / name).write_text("{}")
    for folder in ("images", "meta"):
        (tmp_path / folder).mkdir()
    (tmp_path / WRITER_LOCK).touch()
    removed: list[str] = []
    unlink = Path.unlink
    monkeypatch.setattr(writer_lock.shutil, "rmtree", lambda path: removed.append(Path(path).name))
    monkeypatch.setattr(
        Path, "unlink", lambda path, *a, **k: (removed.append(path.name), unlink(path, *a, **k))
    )
    writer_lock.clear_run_output(tmp_path, last="manifest.json")
    assert sorted(removed[:-1]) == ["annotations.json", "images", "meta", "zz.json"]
    assert removed[-1] == "manifest.json"
