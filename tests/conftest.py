"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

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
