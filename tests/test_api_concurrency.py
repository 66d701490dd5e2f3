"""20 concurrent clients × 3 small jobs each: every job completes and every client gets its answers.

Loops are bounded in count and the whole test has a generous deadline, so it always ends; no
speed is asserted (the machine may be busy).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from scenesmith.api.testing import ServerProcess

CLIENTS = 20
JOBS_PER_CLIENT = 3
DEADLINE_S = 1500.0
TINY = {"resolution": (32, 32), "samples": 1, "overrides": ["render.denoise=false"]}


def test_twenty_clients_with_three_jobs_each_all_complete(tmp_path: Path) -> None:
    results: dict[int, list[dict]] = {}
    errors: list[str] = []
    deadline = time.monotonic() + DEADLINE_S

    with ServerProcess(tmp_path / "root", extra=["--max-count", "5"]) as server:

        def client_main(number: int) -> None:
            try:
                with server.client(timeout_s=60.0) as client:
                    jobs = [
                        client.submit("dice_tray", count=1, seed=number * JOBS_PER_CLIENT + k, **TINY)
                        for k in range(JOBS_PER_CLIENT)
                    ]
                    final: dict[str, dict] = {}
                    for _ in range(int(DEADLINE_S / 0.5)):  # bounded polling
                        for job in jobs:
                            if job not in final:
                                status = client.status(job)
                                if status["state"] in ("complete", "failed", "cancelled"):
                                    final[job] = status
                        if len(final) == len(jobs) or time.monotonic() > deadline:
                            break
                        time.sleep(0.5)
                    manifests = [client.result(job) for job, s in final.items() if s["state"] == "complete"]
                    results[number] = [*final.values(), *({"manifest": m} for m in manifests)]
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(f"client {number}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=client_main, args=(n,), daemon=True) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(1.0, deadline - time.monotonic() + 60))
        assert not errors, errors
        assert all(not t.is_alive() for t in threads), "a client thread did not finish in time"
        with server.client() as client:
            listed = client.list(limit=1000)
            assert client.ping()["protocol"] == 1

    statuses = [r for entries in results.values() for r in entries if "state" in r]
    manifests = [r["manifest"] for entries in results.values() for r in entries if "manifest" in r]
    assert len(results) == CLIENTS
    assert len(statuses) == CLIENTS * JOBS_PER_CLIENT
    assert all(s["state"] == "complete" and s["done"] == 1 for s in statuses), [
        (s["id"], s["state"], s["error"]) for s in statuses if s["state"] != "complete"
    ]
    assert len({s["id"] for s in statuses}) == CLIENTS * JOBS_PER_CLIENT
    assert all(m["status"] == "complete" and m["count"] == 1 for m in manifests)
    assert len(listed) == CLIENTS * JOBS_PER_CLIENT
    # Jobs ran one after another in submission order (FIFO on the one pool).
    by_seq = sorted(listed, key=lambda s: s["created"])
    starts = [s["started"] for s in by_seq]
    assert starts == sorted(starts)
