"""Every rules iteration kept in benchmark/iterations still loads and builds labelled scenes.

Why: the iteration files are the record of what was measured (dice_iterations.md names each one) and
the starting point for the next change; one that no longer loads after a schema change is a dead
record, and `extends` chains break quietly when a parent moves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.loader import load_scene

ITERATIONS = sorted((Path(__file__).resolve().parent.parent / "benchmark" / "iterations").glob("*.yaml"))


def test_the_iterations_are_found() -> None:
    assert len(ITERATIONS) >= 7


@pytest.mark.parametrize("path", ITERATIONS, ids=lambda p: p.stem)
def test_iteration_builds_labelled_scenes(path: Path) -> None:
    rules = load_scene(str(path)).rules
    assert any(build_scene(rules, 0, index).labelled_objects for index in range(3))
