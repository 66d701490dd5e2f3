"""A server killed with SIGKILL mid-job and restarted finishes the job: no image lost or duplicated,
stream cursors stay valid, and the render workers the dead server left behind are ended."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import psutil
from pycocotools.coco import COCO

from scenesmith.api.testing import ServerProcess

COUNT = 12
TINY = {"resolution": (32, 32), "samples": 1, "overrides": ["render.denoise=false"]}


def stream_all(client, job: str, cursor: int = 0) -> tuple[list[int], int]:  # noqa: ANN001
    """Every sample after `cursor` until the stream says the job is over (bounded loop)."""
    indices: list[int] = []
    for _ in range(1000):
        batch = client.stream(job, cursor=cursor, credit=5, wait_s=1.0)
        indices += [s.index for s in batch.samples]
        cursor = batch.cursor
        if batch.end:
            return indices, cursor
    raise AssertionError("stream did not end")


def test_killed_server_resumes_the_job_without_losing_or_duplicating_images(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = ServerProcess(root).start()
    try:
        with first.client() as client:
            job = client.submit("dice_tray", count=COUNT, seed=4, **TINY)
            deadline = time.monotonic() + 600
            while client.status(job)["done"] < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            early = client.stream(job, credit=2, wait_s=0)  # a trainer's position before the crash
            assert len(early.samples) == 2
        workers = [r["pid"] for r in json.loads((root / "workers.json").read_text())]
        first.kill_server_only()
        with sqlite3.connect(root / "jobs.sqlite") as db:
            state, done = db.execute("SELECT state, done FROM jobs WHERE id = ?", (job,)).fetchone()
        assert state == "running" and 3 <= done < COUNT, (state, done)

        second = ServerProcess(root, bind=f"tcp://127.0.0.1:{first.port}", log_name="log2").start()
        try:
            with second.client() as client:
                final = client.wait(job, timeout_s=600, poll_s=0.2)
                assert final["state"] == "complete" and final["done"] == COUNT, final
                rest, _ = stream_all(client, job, early.cursor)
                whole, end_cursor = stream_all(client, job)
        finally:
            second.stop()
    finally:
        first.stop()

    assert "resuming 1 interrupted job" in second.log()
    assert not [pid for pid in workers if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    # The stream: every image exactly once, before and after the crash together.
    assert sorted([s.index for s in early.samples] + rest) == list(range(COUNT))
    assert sorted(whole) == list(range(COUNT)) and end_cursor == COUNT
    # The dataset: every image once, nothing half-written, COCO complete.
    dataset = root / "jobs" / job / "dataset"
    metas = sorted(p.name for p in (dataset / "meta").iterdir())
    assert metas == [f"{i:06d}.json" for i in range(COUNT)]
    assert len(list((dataset / "images").iterdir())) == COUNT
    assert not [p for p in dataset.rglob(".tmp-*")]
    coco = COCO(str(dataset / "annotations.json"))
    assert sorted(coco.getImgIds()) == list(range(1, COUNT + 1))
    ann_ids = [a["id"] for a in coco.dataset["annotations"]]
    assert len(ann_ids) == len(set(ann_ids))
    with sqlite3.connect(root / "jobs.sqlite") as db:
        rows = db.execute("SELECT seq, idx FROM samples WHERE job = ? ORDER BY seq", (job,)).fetchall()
    assert [seq for seq, _ in rows] == list(range(1, COUNT + 1))
    assert sorted(idx for _, idx in rows) == list(range(COUNT))


def test_reaping_ends_recorded_orphans_and_spares_reused_pids(tmp_path: Path) -> None:
    import subprocess

    from scenesmith.api.runner import reap_orphaned_workers

    orphan = subprocess.Popen(["sleep", "120"])
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        records = [
            {"pid": orphan.pid, "create_time": psutil.Process(orphan.pid).create_time()},
            {
                "pid": bystander.pid,
                "create_time": psutil.Process(bystander.pid).create_time() - 50,
            },  # pid reused
        ]
        (tmp_path / "workers.json").write_text(json.dumps(records))
        assert reap_orphaned_workers(tmp_path) == 1
        orphan.wait(10)  # psutil already reaped it
        assert not psutil.pid_exists(orphan.pid) and bystander.poll() is None
        assert not (tmp_path / "workers.json").exists()
    finally:
        for process in (orphan, bystander):
            process.kill()
            process.wait()
