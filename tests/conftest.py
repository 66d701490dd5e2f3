"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture()
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the test, the caller's thread count restored afterwards: the learned
    translators' toy fits run as `scenesmith --threads 1 adapt train` does."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def abandoned_scratch() -> Callable[[Path], Path]:
    """Makes a render temp folder under a root whose owner process ended without cleaning up (as a
    SIGKILL or an OOM kill leaves it); returns the folder."""

    def make(root: Path) -> Path:
        from scenesmith.render.scratch import OWNER_LOCK

        code = (
            "import os; from scenesmith.render.scratch import Scratch; "
            "print(Scratch().path, flush=True); os._exit(0)"
        )
        env = {**os.environ, "TMPDIR": str(root)}
        made = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        folder = Path(made.stdout.strip())
        assert folder.parent == root and (folder / OWNER_LOCK).is_file(), made.stderr
        return folder

    return make


@pytest.fixture()
def unbuildable_from_image() -> Iterator[Callable[[int], None]]:
    """Makes every image from index N on fail to build as a draw can fail (valid rules, a drawn part
    whose boolean leaves no closed solid): the rules loaded, earlier images built."""
    from scenesmith import pipeline

    def make(first_failing: int) -> None:
        real_build = pipeline.build_scene

        def build(rules: Any, seed: int, index: int) -> Any:
            if index >= first_failing:
                raise ValueError("mechanical part is not a closed solid: {'diameter_m': 0.004}")
            return real_build(rules, seed, index)

        monkeypatch.setattr(pipeline, "build_scene", build)

    monkeypatch = pytest.MonkeyPatch()
    yield make
    monkeypatch.undo()
