"""`Client.fetch` never saves a file spliced from two versions, and never keeps a stale rewritten one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scenesmith.api.client import ApiError, Client


class _ReplacingServer(Client):
    """Serves `annotations.json` in chunks and replaces it (as a resumed job does) after `replace_after`
    chunks; serves one immutable image."""

    def __init__(self, replace_after: int | None) -> None:
        super().__init__(token="test-token")
        self.files_on_server = {
            "annotations.json": (b"old-labels", "v1"),
            "images/000000.png": (b"png", "i1"),
        }
        self.replace_after = replace_after
        self.chunks_served = 0

    def files(self, job: str) -> list[dict[str, Any]]:
        return [{"path": path, "size": len(data)} for path, (data, _) in self.files_on_server.items()]

    def request(self, op: str, frames_out: Any = (), timeout_s: float | None = None, **fields: Any):  # noqa: ANN201
        assert op == "fetch"
        data, version = self.files_on_server[fields["path"]]
        chunk = data[fields["offset"] : fields["offset"] + fields["length"]]
        self.chunks_served += 1
        if self.chunks_served == self.replace_after:
            self.files_on_server["annotations.json"] = (b"new-labels", "v2")
        eof = fields["offset"] + len(chunk) >= len(data)
        return {"eof": eof, "size": len(data), "version": version}, [chunk]


def test_a_file_replaced_mid_fetch_is_fetched_again_whole(tmp_path: Path) -> None:
    client = _ReplacingServer(replace_after=1)
    client.fetch("job", tmp_path, chunk_bytes=4)
    assert (tmp_path / "annotations.json").read_bytes() == b"new-labels"
    assert (tmp_path / "images/000000.png").read_bytes() == b"png"
    assert not list(tmp_path.rglob(".part-*"))


def test_rewritten_files_are_fetched_again_but_finished_samples_are_not(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images/000000.png").write_bytes(b"PNG")  # same size: a finished sample, kept
    (tmp_path / "annotations.json").write_bytes(b"stale-labl")  # same size as the server's, but stale
    _ReplacingServer(replace_after=None).fetch("job", tmp_path, chunk_bytes=4)
    assert (tmp_path / "annotations.json").read_bytes() == b"old-labels"
    assert (tmp_path / "images/000000.png").read_bytes() == b"PNG"


def test_a_file_that_keeps_changing_is_reported_not_saved(tmp_path: Path) -> None:
    client = _ReplacingServer(replace_after=None)
    original = client.request

    def always_replaced(op: str, frames_out: Any = (), timeout_s: float | None = None, **fields: Any):  # noqa: ANN202
        reply, frames = original(op, frames_out, timeout_s, **fields)
        return {**reply, "version": f"v{client.chunks_served}"}, frames

    client.request = always_replaced  # type: ignore[method-assign]
    with pytest.raises(ApiError, match="annotations.json: replaced on the server"):
        client.fetch("job", tmp_path, chunk_bytes=4)
    assert not (tmp_path / "annotations.json").exists() and not list(tmp_path.rglob(".part-*"))
