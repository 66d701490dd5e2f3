"""API end to end over loopback: submit → progress → result (pycocotools), live streaming into a
multi-worker DataLoader for two epochs, cancel, FIFO order, and the CLI wrappers."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from torch.utils.data import DataLoader

from scenesmith.annotate.dataset_writer import read_depth, read_instance
from scenesmith.api import ApiError, StreamingDataset, collate_samples
from scenesmith.api.testing import ServerProcess
from scenesmith.cli import main

TINY = {"resolution": (32, 32), "samples": 1, "overrides": ["render.denoise=false"]}
TINY_ARGS = ["--resolution", "32x32", "--samples", "1", "--set", "render.denoise=false"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with ServerProcess(tmp_path_factory.mktemp("api_e2e") / "root", extra=["--max-count", "40"]) as process:
        yield process


def test_submit_progress_and_result_load_in_pycocotools(server: ServerProcess, tmp_path: Path) -> None:
    with server.client() as client:
        job = client.submit("dice_tray", count=5, seed=3, **TINY)
        seen = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = client.status(job)
            seen.append((status["state"], status["done"]))
            if status["state"] in ("complete", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert status["state"] == "complete", status
        dones = [done for _, done in seen]
        assert dones == sorted(dones) and dones[-1] == 5 and status["total"] == 5
        assert {"queued", "running"} & {state for state, _ in seen}
        manifest = client.result(job)
        assert manifest["status"] == "complete" and manifest["count"] == 5 and manifest["seed"] == 3
        out = client.fetch(job, tmp_path / "copy")
    coco = COCO(str(out / "annotations.json"))
    assert sorted(coco.getImgIds()) == [1, 2, 3, 4, 5]
    served = server.data_root / "jobs" / job / "dataset"
    for name in ["annotations.json", "images/000004.png", "masks/000002_instance.png", "depth/000000.exr"]:
        assert (out / name).read_bytes() == (served / name).read_bytes(), name
    # Every field streams and decodes like the files on disk.
    fields = ("image", "meta", "instance", "semantic", "depth")
    samples = list(
        StreamingDataset(job, server.endpoint, token_file=server.token_file, fields=fields, credit=3)
    )
    assert sorted(s["index"] for s in samples) == [0, 1, 2, 3, 4]
    for sample in samples:
        stem = f"{sample['index']:06d}"
        assert torch.equal(
            sample["instance"], torch.from_numpy(read_instance(out / f"masks/{stem}_instance.png")).long()
        )
        depth = read_depth(out / f"depth/{stem}.exr")
        assert sample["depth"].shape == (32, 32) and np.array_equal(
            sample["depth"].numpy(), depth, equal_nan=True
        )
        assert sample["semantic"].shape == (32, 32) and sample["meta"]["image_id"] == sample["index"] + 1


def test_stream_a_live_job_into_a_two_worker_dataloader_for_two_epochs(server: ServerProcess) -> None:
    count = 8
    with server.client() as client:
        job = client.submit("dice_tray", count=count, seed=11, **TINY)
        dataset = StreamingDataset(job, server.endpoint, token_file=server.token_file, credit=2, wait_s=2.0)
        loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_samples)
        live_at_start = client.status(job)["done"] < count
        epochs = []
        for _ in range(2):
            indices = []
            for batch in loader:
                assert batch["image"].dtype == torch.uint8 and batch["image"].shape[1:] == (3, 32, 32)
                for index, meta in zip(batch["index"].tolist(), batch["meta"], strict=True):
                    assert meta["image_id"] == index + 1
                indices += batch["index"].tolist()
            epochs.append(indices)
        assert live_at_start  # the first epoch began before the job was done
        for indices in epochs:
            assert len(indices) == count and sorted(indices) == list(range(count))
        assert client.status(job)["state"] == "complete"


def test_cancel_keeps_finished_images_and_jobs_run_in_order(server: ServerProcess) -> None:
    with server.client() as client:
        long_job = client.submit("dice_tray", count=40, seed=21, **TINY)
        short_job = client.submit("dice_tray", count=1, seed=22, **TINY)
        assert client.status(short_job)["state"] == "queued"
        deadline = time.monotonic() + 600
        while client.status(long_job)["done"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.status(short_job)["position"] >= 1  # waits behind the running job
        assert client.cancel(long_job)["state"] in ("cancelling", "cancelled")
        final = client.wait(long_job, timeout_s=600, poll_s=0.1)
        assert final["state"] == "cancelled" and 1 <= final["done"] < 40
        with pytest.raises(ApiError) as info:
            client.result(long_job)
        assert info.value.code == "not_finished"
        # A stream over a cancelled job delivers what finished, then ends.
        batch = client.stream(long_job, credit=64, wait_s=0)
        indices = [s.index for s in batch.samples]
        assert batch.end and len(set(indices)) == len(indices) == final["done"]
        # A training epoch over it is short: it says so, unless the short epoch is asked for.
        stream = StreamingDataset(long_job, server.endpoint, token_file=server.token_file, decode=False)
        with pytest.raises(ApiError) as info:
            list(stream)
        assert info.value.code == "job_cancelled" and f"after {final['done']}/40" in info.value.message
        stream.allow_cancelled = True
        assert len(list(stream)) == final["done"]
        assert client.wait(short_job, timeout_s=600, poll_s=0.1)["state"] == "complete"
        assert client.status(short_job)["started"] >= final["finished"]


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code)


def test_cli_submit_status_cancel_fetch(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCENESMITH_TOKEN", raising=False)
    monkeypatch.delenv("SCENESMITH_TOKEN_FILE", raising=False)
    connect = ["--server", server.endpoint, "--token-file", str(server.token_file)]
    assert run_cli(["submit", "dice_tray", "--count", "2", *TINY_ARGS, *connect, "--wait"]) == 0
    job = capsys.readouterr().out.strip().splitlines()[-1]
    assert run_cli(["status", job, *connect]) == 0
    assert "complete  2/2" in capsys.readouterr().out
    assert run_cli(["status", *connect]) == 0
    assert job in capsys.readouterr().out
    assert run_cli(["fetch", job, "--out", str(tmp_path / "fetched"), *connect]) == 0
    assert COCO(str(tmp_path / "fetched" / "annotations.json")).getImgIds() == [1, 2]
    assert run_cli(["cancel", job, *connect]) == 0  # already complete: stays complete
    assert "complete" in capsys.readouterr().out
    capsys.readouterr()
    assert run_cli(["status", "0123456789abcdef", *connect]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scenesmith: error:") and "no job" in err and len(err.strip().splitlines()) == 1
    assert run_cli(["status", "--server", "tcp://127.0.0.1:1", "--token-file", str(server.token_file),
                    "--timeout", "0.5"]) == 2  # fmt: skip
    assert "no reply" in capsys.readouterr().err
    assert run_cli(["status", "--server", server.endpoint]) == 2
    assert "no API token" in capsys.readouterr().err


def test_scene_yaml_text_and_data_root_scenes(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (server.data_root / "scenes" / "parts").mkdir(parents=True, exist_ok=True)
    (server.data_root / "scenes" / "parts" / "tiny.yaml").write_text(
        "render: {resolution: [32, 32], samples: 1, denoise: false}\n"
    )
    (server.data_root / "scenes" / "mini.yaml").write_text("extends: dice_tray\ninclude: parts/tiny.yaml\n")
    local = tmp_path / "my_scene.yaml"
    local.write_text("extends: mini.yaml\nobjects: {dice: {count: 2}}\n")  # resolved in the server's root
    connect = ["--server", server.endpoint, "--token-file", str(server.token_file)]
    assert run_cli(["submit", str(local), "--count", "1", *connect]) == 0
    from_text = capsys.readouterr().out.strip()
    with server.client() as client:
        from_name = client.submit("mini", count=1)
        for job in (from_text, from_name):
            assert client.wait(job, timeout_s=600, poll_s=0.1)["state"] == "complete"
        text_manifest, name_manifest = client.result(from_text), client.result(from_name)
    assert (
        text_manifest["scene"]["source"] == "request"
        and name_manifest["scene"]["source"] == "scenes/mini.yaml"
    )
    assert text_manifest["scene"]["rules"]["render"]["resolution"] == [32, 32]
    assert text_manifest["scene"]["rules"]["objects"]["dice"]["count"] == 2
