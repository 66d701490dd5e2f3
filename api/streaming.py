"""`StreamingDataset`: a torch IterableDataset over a (possibly still rendering) job.

Why it works with a multi-worker DataLoader, and across the processes of distributed training:
every DataLoader worker opens its own connection and asks only for its shard (`index % (world_size ×
num_workers) == rank × num_workers + worker_id`), so shards are disjoint; within a shard the server
walks the job's finish log with a cursor, and the log holds each finished image once, so each sample
is delivered exactly once per epoch, across all ranks. One epoch (one `iter()`) is every sample
finished when it starts, then the ones that finish during it, until the job is over — for a job
that completes, exactly `count` samples. Flow control is by credit: a worker asks for at most
`credit` samples and only asks again once it has handed those on, so a slow trainer never makes the
server (or this process) buffer more.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from scenesmith.api.client import (
    DEFAULT_ADDRESS,
    ApiError,
    Client,
    StreamedSample,
    listed_strings,
    resolve_token,
)
from scenesmith.api.protocol import MAX_SHARDS, MAX_WAIT_S


class StreamingDataset(IterableDataset):
    """Samples of job `job` as dicts: "index", "image" (uint8 tensor C×H×W, RGB), "meta" (the
    per-image labels, FORMAT.md), and "instance"/"semantic" (int64 H×W) or "depth" (float32 H×W)
    when asked for in `fields`. `decode=False` leaves every field as raw file bytes."""

    def __init__(
        self,
        job: str,
        address: str = DEFAULT_ADDRESS,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        server_key: str | bytes | None = None,
        fields: Sequence[str] = ("image", "meta"),
        credit: int = 8,
        wait_s: float = 5.0,
        timeout_s: float = 60.0,
        decode: bool = True,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        idle_timeout_s: float | None = 3600.0,
        allow_cancelled: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        """`rank`/`world_size`: this process's place in distributed training (DDP); by default
        `torch.distributed`'s when its process group is set up before this is made, else (0, 1).
        Ranks then get disjoint parts of the job, which can differ by a sample or so in size: end an
        epoch with `torch.distributed.algorithms.Join` or a fixed step count, not on exhaustion. Every
        rank must use as many DataLoader workers: the parts are numbered rank × workers + worker."""
        super().__init__()
        if not 0 <= wait_s <= MAX_WAIT_S:  # else every DataLoader worker would fail on its first request
            raise ValueError(f"wait_s: expected 0 to {MAX_WAIT_S:g} s (the server's limit), got {wait_s}")
        self.job = job
        self.address = address
        self.token = resolve_token(token, token_file)  # resolved here: workers may not see the env
        self.server_key = server_key
        self.fields = tuple(listed_strings("fields", fields, "field names"))  # refused here, not in workers
        self.credit = credit
        self.wait_s = wait_s
        self.timeout_s = timeout_s
        self.decode = decode
        self.transform = transform
        # No new sample for this long while the job is not queued (stuck): raise.
        self.idle_timeout_s = idle_timeout_s
        # A job cancelled (by anyone) ends short of its count: raise, unless the short epoch is wanted.
        self.allow_cancelled = allow_cancelled
        self.rank, self.world_size = _distributed_place(rank, world_size)

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if self.world_size * workers > MAX_SHARDS:  # else each worker's first request is refused
            raise ValueError(
                f"{self.world_size} ranks × {workers} DataLoader workers split the job into "
                f"{self.world_size * workers} parts; a server streams at most {MAX_SHARDS}: use fewer workers"
            )
        shard = (self.rank * workers + worker, self.world_size * workers)
        # A fresh connection in each worker process: ZMQ sockets do not survive a fork.
        with Client(
            self.address, token=self.token, server_key=self.server_key, timeout_s=self.timeout_s
        ) as client:
            cursor, last_progress = 0, time.monotonic()
            while True:
                batch = client.stream(
                    self.job,
                    cursor=cursor,
                    credit=self.credit,
                    shard=shard,
                    fields=self.fields,
                    wait_s=self.wait_s,
                )
                for sample in batch.samples:
                    item = self._convert(sample)
                    yield self.transform(item) if self.transform is not None else item
                # A queued job waits its turn behind others, however long they render: not stuck.
                if batch.samples or batch.cursor != cursor or batch.state == "queued":
                    last_progress = time.monotonic()
                cursor = batch.cursor
                if batch.end:
                    # What finished was delivered; a partial epoch is no epoch, unless asked for.
                    if batch.state == "failed":
                        raise ApiError(
                            "job_failed", f"job {self.job} failed after {batch.done}/{batch.total} images"
                        )
                    if batch.state == "cancelled" and not self.allow_cancelled:
                        raise ApiError(
                            "job_cancelled",
                            f"job {self.job} was cancelled after {batch.done}/{batch.total} images "
                            "(allow_cancelled=True trains on them)",
                        )
                    return
                if self.idle_timeout_s is not None and time.monotonic() - last_progress > self.idle_timeout_s:
                    raise ApiError(
                        "timeout",
                        f"job {self.job}: no new sample for {self.idle_timeout_s:g} s while it is "
                        f"{batch.state} ({batch.done}/{batch.total} images)",
                    )

    def _convert(self, sample: StreamedSample) -> dict[str, Any]:
        item: dict[str, Any] = {"index": sample.index}
        for name, data in sample.data.items():
            item[name] = decode_field(name, data) if self.decode else data
        return item


def _distributed_place(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world size) as given, else from an initialised `torch.distributed`, else (0, 1).

    Read when the dataset is made, in the trainer's process: a DataLoader worker started by spawn has
    no process group to ask."""
    if rank is None and world_size is None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        return (torch.distributed.get_rank(), torch.distributed.get_world_size()) if distributed else (0, 1)
    if rank is None or world_size is None:
        raise ValueError("rank and world_size: give both, or neither (then torch.distributed's are used)")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank: expected 0 to world_size - 1 = {world_size - 1}, got {rank}")
    return rank, world_size


def decode_field(name: str, data: bytes) -> Any:
    """File bytes of one sample field → tensor (images, masks, depth) or dict (meta)."""
    if name == "meta":
        return json.loads(data)
    if name == "depth":
        from scenesmith.annotate.dataset_writer import read_depth

        with tempfile.TemporaryDirectory() as folder:  # OpenEXR reads files, not buffers
            path = Path(folder) / "depth.exr"
            path.write_bytes(data)
            return torch.from_numpy(read_depth(path))
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ValueError(f"cannot decode the {name} of a streamed sample")
    if name == "image":
        return torch.from_numpy(
            np.ascontiguousarray(cv2.cvtColor(array, cv2.COLOR_BGR2RGB).transpose(2, 0, 1))
        )
    return torch.from_numpy(array.astype(np.int64))


def collate_samples(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """DataLoader `collate_fn`: tensors of equal shape are stacked, everything else (meta) listed."""
    out: dict[str, Any] = {"index": torch.tensor([s["index"] for s in batch])}
    for key in batch[0]:
        if key == "index":
            continue
        values = [s[key] for s in batch]
        same_shape = all(isinstance(v, torch.Tensor) and v.shape == values[0].shape for v in values)
        out[key] = torch.stack(values) if same_shape else values
    return out
