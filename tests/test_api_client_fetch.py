"""`Client.fetch` never saves a file spliced from two versions, never keeps a stale rewritten one, and
never mixes the job's dataset into a folder that holds another one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scenesmith.annotate.atomic import TEMP_PREFIX
from scenesmith.api.client import ApiError, Client, ServerUnavailable
from scenesmith.errors import UserError

IDENTITY = {"rules_sha256": "r1", "seed": 7, "image_format": "png", "dataset_key": "key-of-the-job"}


def manifest_bytes(identity: dict[str, Any] = IDENTITY, **fields: Any) -> bytes:
    return json.dumps({"identity": identity, "count": 2, "status": "complete", **fields}).encode()


class _ReplacingServer(Client):
    """Serves `annotations.json` in chunks and replaces it (as a resumed job does) after `replace_after`
    chunks; serves immutable images, and `manifest.json` when given one."""

    def __init__(self, replace_after: int | None, manifest: bytes | None = None) -> None:
        super().__init__(token="test-token")
        self.files_on_server = {
            "annotations.json": (b"old-labels", "v1"),
            "images/000000.png": (b"png", "i1"),
            "images/000001.png": (b"png1", "i2"),
        }
        if manifest is not None:  # listed after the samples, as the server lists it
            self.files_on_server["manifest.json"] = (manifest, "m1")
        self.replace_after = replace_after
        self.chunks_served = 0
        self.fail_on: str | None = None  # a path whose fetch fails once (a connection cut short)
        self.fetched: list[str] = []

    def files(self, job: str) -> list[dict[str, Any]]:
        return [{"path": path, "size": len(data)} for path, (data, _) in self.files_on_server.items()]

    def status(self, job: str) -> dict[str, Any]:
        return {"id": job, "state": "complete", "done": 2, "total": 2}

    def request(self, op: str, frames_out: Any = (), timeout_s: float | None = None, **fields: Any):  # noqa: ANN201
        assert op == "fetch"
        if fields["path"] == self.fail_on:
            self.fail_on = None
            raise ServerUnavailable("unavailable", "connection lost")
        self.fetched.append(fields["path"])
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
    assert not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))


@pytest.mark.parametrize("chunk_bytes", [1e6, 0, True, "4"])
def test_a_bad_chunk_size_is_refused_in_the_callers_terms_before_any_request(
    tmp_path: Path, chunk_bytes: Any
) -> None:
    client = _ReplacingServer(replace_after=None)
    with pytest.raises(ValueError, match=f"chunk_bytes must be a whole number of bytes.*{chunk_bytes!r}"):
        client.fetch("job", tmp_path / "out", chunk_bytes=chunk_bytes)
    assert client.fetched == [] and not (tmp_path / "out").exists()


def test_rewritten_files_are_fetched_again_but_finished_samples_are_not(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images/000000.png").write_bytes(b"PNG")  # same size: a finished sample, kept
    (tmp_path / "annotations.json").write_bytes(b"stale-labl")  # same size as the server's, but stale
    (tmp_path / "manifest.json").write_bytes(manifest_bytes())  # the same job's dataset
    _ReplacingServer(replace_after=None, manifest=manifest_bytes()).fetch("job", tmp_path, chunk_bytes=4)
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
    assert not (tmp_path / "annotations.json").exists() and not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("held", "says"),
    [
        ({"manifest.json": manifest_bytes({**IDENTITY, "seed": 8, "dataset_key": "another-dataset"})},
         "holds a different dataset than job job (differs in: seed)"),
        # made by code whose plug-ins were revised: a key the job's identity lacks
        ({"manifest.json": manifest_bytes({**IDENTITY, "plugin_revisions": {"placement.rows": 1},
                                           "dataset_key": "revised"})},
         "holds a different dataset than job job (differs in: plugin_revisions)"),
        # the same dataset rendered elsewhere: the job's images are other pixels of the same sizes
        ({"manifest.json": manifest_bytes(render_settings_used={"device": {"device": "GPU"}})},
         "holds images rendered with {'device': 'GPU', 'backend': None, 'denoise': None, 'denoiser': None}"),
        ({"notes.txt": b"mine"}, "holds no scenesmith dataset"),
    ],
)  # fmt: skip
def test_a_folder_holding_anything_but_the_jobs_dataset_is_refused_untouched(
    tmp_path: Path, held: dict[str, bytes], says: str
) -> None:
    """Sample files of the listed size would be kept and the manifest overwritten: a mix of two datasets."""
    out = tmp_path / "out" / "dice"
    (out / "images").mkdir(parents=True)
    (out / "images/000000.png").write_bytes(b"abc")  # same size as the job's image, other pixels
    for name, data in held.items():
        (out / name).write_bytes(data)
    before = _snapshot(out)
    with pytest.raises(UserError, match="choose another --out") as refused:
        served = manifest_bytes(
            render_settings_used={"device": {"device": "CPU"}, "denoiser": "OPENIMAGEDENOISE"}
        )
        _ReplacingServer(replace_after=None, manifest=served).fetch("job", out)
    assert str(out) in str(refused.value) and says in str(refused.value)
    assert _snapshot(out) == before


def test_a_dataset_folder_is_refused_for_a_job_that_has_no_dataset_yet(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_bytes(manifest_bytes())
    with pytest.raises(UserError, match="has written none yet"):
        _ReplacingServer(replace_after=None).fetch("job", tmp_path)


def test_a_fetch_cut_short_resumes_into_its_own_folder(tmp_path: Path) -> None:
    """The manifest is saved first, so the folder a cut-short fetch left is known as this job's; it
    says "fetching" until the end, so the copy is not taken for a finished dataset meanwhile."""
    client = _ReplacingServer(replace_after=None, manifest=manifest_bytes())
    client.fail_on = "images/000001.png"
    with pytest.raises(ServerUnavailable):
        client.fetch("job", tmp_path)
    left = json.loads((tmp_path / "manifest.json").read_text())
    assert left == {**json.loads(manifest_bytes()), "status": "fetching"}
    client.fetched.clear()
    client.fetch("job", tmp_path)
    assert "images/000000.png" not in client.fetched  # already there: not fetched again
    assert _snapshot(tmp_path) == {path: data for path, (data, _) in client.files_on_server.items()}


def test_the_cli_refuses_a_folder_of_another_dataset_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scenesmith.api import cli as api_cli
    from scenesmith.cli import main

    other = manifest_bytes({**IDENTITY, "rules_sha256": "r2", "dataset_key": "another-dataset"})
    (tmp_path / "manifest.json").write_bytes(other)
    monkeypatch.setattr(api_cli, "_client", lambda args: _ReplacingServer(None, manifest_bytes()))
    with pytest.raises(SystemExit) as exit_info:
        main(["fetch", "b" * 16, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert str(tmp_path) in err and "differs in: rules_sha256" in err
    assert (tmp_path / "manifest.json").read_bytes() == other


@pytest.mark.parametrize("manifest", [b"[1, 2]", b'{"identity": 3}', b"not json"])
def test_a_served_manifest_that_names_no_dataset_is_a_bad_reply_even_into_an_empty_folder(
    tmp_path: Path, manifest: bytes
) -> None:
    """Into an empty folder it was not checked, and `[1, 2]` raised a bare TypeError."""
    with pytest.raises(ApiError) as refused:
        _ReplacingServer(replace_after=None, manifest=manifest).fetch("job", tmp_path / "out")
    assert refused.value.code == "bad_reply" and "names no dataset" in refused.value.message
    assert not (tmp_path / "out").exists()
