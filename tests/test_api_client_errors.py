"""Client mistakes and server errors reach the caller as `ApiError`s with their code: a wrong address
fails at once (it used to hang in close), and an error raised inside a DataLoader worker keeps its
type and code when torch re-raises it in the training loop."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from scenesmith.api.client import ApiError, ServerUnavailable

CONNECT = """
from scenesmith.api.client import ApiError, Client
try:
    with Client({address!r}, token="t", timeout_s=1, retries=1) as client:
        client.request("ping")
except ApiError as exc:
    print(exc.code, "|", exc)
"""


@pytest.mark.parametrize("address", ["localhost:5555", "tcp://127.0.0.1"])
def test_a_malformed_address_fails_at_once_naming_it(address: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CONNECT.format(address=address)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    code, message = done.stdout.strip().split(" | ", 1)
    assert code == "bad_address" and repr(address) in message and "tcp://127.0.0.1:5555" in message


class _FailingStream(IterableDataset):
    def __init__(self, error: ApiError) -> None:
        self.error = error

    def __iter__(self):  # noqa: ANN204
        yield torch.zeros(1)
        raise self.error


@pytest.mark.parametrize(
    "error",
    [ApiError("job_failed", "job abc failed: out of memory"), ServerUnavailable("unavailable", "gone")],
)
def test_an_error_in_a_dataloader_worker_keeps_its_type_and_code(error: ApiError) -> None:
    loader = DataLoader(_FailingStream(error), batch_size=None, num_workers=1)
    with pytest.raises(type(error)) as raised:
        list(loader)
    assert raised.value.code == error.code and error.message in str(raised.value)
