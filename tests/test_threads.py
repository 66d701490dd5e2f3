"""`scenesmith --threads N` limits torch's threads, whether torch is imported before or after."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scenesmith.cli import main
from scenesmith.threads import THREAD_VARIABLES, limit_threads


@pytest.fixture
def clean_thread_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the thread variables and restore them afterwards, also where they were unset before.

    `delenv` alone records nothing for an unset variable, so the value `limit_threads` writes would leak
    into every later test (and the render workers they start); `setenv` first records the original.
    """
    for name in THREAD_VARIABLES:
        monkeypatch.setenv(name, "unset-by-test")
        monkeypatch.delenv(name)


def test_torch_imported_later_gets_the_limit(clean_thread_env: None) -> None:
    """Commands import torch lazily, after the CLI has parsed --threads (fresh interpreter)."""
    code = (
        "from scenesmith.threads import limit_threads; limit_threads(1); "
        "import torch; print(torch.get_num_threads())"
    )
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_torch_already_imported_gets_the_limit(clean_thread_env: None) -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        limit_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_cli_option_sets_the_budget_for_child_processes(clean_thread_env: None, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--threads", "1", "scenes"])
    assert exit_.value.code == 0
    assert all(os.environ[name] == "1" for name in THREAD_VARIABLES)


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_cli_rejects_a_bad_thread_count(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--threads", value, "scenes"])
    assert exit_.value.code == 2
    assert "--threads" in capsys.readouterr().err


def test_limit_threads_rejects_zero() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        limit_threads(0)
