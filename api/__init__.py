"""The scenesmith service: a ZMQ server that renders labelled datasets on request, its client, and a
torch dataset that streams a job's samples into training while the job is still rendering.

    from scenesmith.api import Client, StreamingDataset

`StreamingDataset` is imported lazily, so the client does not pull in torch. The wire protocol is
documented in `PROTOCOL.md` next to this file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scenesmith.api.client import ApiError, Client, ServerUnavailable, StreamBatch, StreamedSample

if TYPE_CHECKING:
    from scenesmith.api.streaming import StreamingDataset, collate_samples

__all__ = [
    "ApiError",
    "Client",
    "ServerUnavailable",
    "StreamBatch",
    "StreamedSample",
    "StreamingDataset",
    "collate_samples",
]


def __getattr__(name: str) -> Any:
    if name in ("StreamingDataset", "collate_samples"):
        from scenesmith.api import streaming

        return getattr(streaming, name)
    raise AttributeError(f"module 'scenesmith.api' has no attribute {name!r}")
