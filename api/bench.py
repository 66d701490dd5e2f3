"""`scenesmith bench api`: numbers for the service, printed and saved as JSON (never asserted).

- `status` latency (p50/p99/max) from N concurrent client processes while a job renders, and on an
  idle server from the same N clients and from one client, to tell render load from client load;
- the pace the job wrote images to disk (render + label + write, steady state);
- streaming throughput of the finished job's samples (image + labels) over loopback;
- writing the same bytes to disk as the dataset writer does (atomic, fsync per file);
- a live stream: how long after the job's last image the trainer had it.

Why processes for the clients: threads in one interpreter would measure their own GIL contention,
not the server.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from scenesmith.api.client import ApiError, Client
from scenesmith.api.protocol import TERMINAL_STATES
from scenesmith.api.testing import ServerProcess


def _percentiles(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "n": len(ordered),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def _status_client(args: tuple[str, str, int, Any, Any]) -> list[float]:
    """One client process: connect, wait at the barrier, then time `requests` status calls (ms)."""
    from scenesmith.api.client import Client

    endpoint, token_file, requests, barrier, shared = args
    with Client(endpoint, token_file=token_file, timeout_s=60) as client:
        client.ping()  # connected before the clock starts
        barrier.wait()
        job = shared.job
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            client.status(job)
            times.append(1000 * (time.perf_counter() - started))
    return times


class _StatusStorm:
    """N client processes, started and connected ahead, released together by `run(job)`.

    Starting them first matters: spawning 20 interpreters on a small machine takes longer than a
    small job renders, and the point is to measure while the job is rendering.
    """

    def __init__(self, server: ServerProcess, clients: int, requests: int) -> None:
        context = mp.get_context("spawn")
        self._manager = context.Manager()
        self._barrier = self._manager.Barrier(clients + 1)
        self._shared = self._manager.Namespace()
        self._pool = context.Pool(clients)
        args = [(server.endpoint, str(server.token_file), requests, self._barrier, self._shared)] * clients
        self._result = self._pool.map_async(_status_client, args)

    def run(self, job: str) -> list[float]:
        self._shared.job = job
        self._barrier.wait(timeout=600)
        times = [t for per_client in self._result.get(timeout=3600) for t in per_client]
        self._pool.close()
        self._pool.join()
        self._manager.shutdown()
        return times

    def close(self) -> None:
        """End the client processes without running them (the benchmark stopped before `run`)."""
        self._pool.terminate()
        self._pool.join()
        self._manager.shutdown()


def wait_for_first_image(client: Client, job: str, poll_s: float = 0.1) -> None:
    """Poll until the job has its first image; a job that ended before it (a Blender that cannot
    start, a scene that fails to build) is an error here, or this would poll forever."""
    while (status := client.status(job))["done"] < 1:
        if status["state"] in TERMINAL_STATES:
            reason = f": {status['error']}" if status.get("error") else ""
            raise ApiError(
                "job_failed", f"benchmark job {job} ended {status['state']} before its first image{reason}"
            )
        time.sleep(poll_s)


def run_api_benchmark(
    scene: str = "dice_tray",
    count: int = 40,
    resolution: tuple[int, int] = (48, 48),
    samples: int = 1,
    clients: int = 20,
    requests: int = 50,
    stream_repeats: int = 5,
) -> dict[str, Any]:
    from scenesmith.annotate.atomic import atomic_write_bytes
    from scenesmith.benchmark.scale_bench import machine

    settings = {"resolution": resolution, "samples": samples, "overrides": ["render.denoise=false"]}
    result: dict[str, Any] = {
        "machine": machine(),
        "params": {"scene": scene, "count": count, "resolution": list(resolution), "samples": samples,
                   "clients": clients, "requests_per_client": requests, "stream_repeats": stream_repeats},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="scenesmith-bench-api-") as folder:
        with ServerProcess(Path(folder) / "root", extra=["--max-count", str(max(count, 1))]) as server:
            with server.client(timeout_s=120) as client:
                storm = _StatusStorm(server, clients, requests)
                try:
                    job = client.submit(scene, count=count, seed=0, **settings)
                    wait_for_first_image(client, job)  # workers loaded, rendering under way
                except BaseException:
                    storm.close()  # its clients would wait at the barrier for a job that never comes
                    raise
                busy = storm.run(job)
                done_after_storm = client.status(job)
                result["status_latency_busy"] = {
                    **_percentiles(busy),
                    "clients": clients,
                    "job_state_after": done_after_storm["state"],
                    "done_after": done_after_storm["done"],
                }
                final = client.wait(job, timeout_s=3600, poll_s=0.2)
                manifest = client.result(job)
                idle = []
                for _ in range(requests * 4):
                    started = time.perf_counter()
                    client.status(job)
                    idle.append(1000 * (time.perf_counter() - started))
                result["status_latency_idle_1_client"] = _percentiles(idle)
                result["status_latency_idle_20_clients"] = {
                    **_percentiles(_StatusStorm(server, clients, requests).run(job)),
                    "clients": clients,
                }

                pace = manifest["last_run"]
                steady = (pace["images"] - 1) / max(1e-9, pace["seconds"] - pace["first_image_seconds"])
                result["render_to_disk"] = {
                    "images": pace["images"],
                    "images_per_s_steady": round(steady, 3) if pace["images"] > 1 else None,
                    "images_per_s_incl_startup": round(pace["images"] / pace["seconds"], 3),
                    "job_state": final["state"],
                }

                # Streaming the finished job: every sample, image + labels, `stream_repeats` epochs.
                payloads: list[tuple[bytes, bytes]] = []
                started = time.perf_counter()
                for _ in range(stream_repeats):
                    cursor, end = 0, False
                    while not end:
                        batch = client.stream(job, cursor=cursor, credit=16, wait_s=0)
                        payloads += [(s.data["image"], s.data["meta"]) for s in batch.samples]
                        cursor, end = batch.cursor, batch.end
                seconds = time.perf_counter() - started
                total_bytes = sum(len(a) + len(b) for a, b in payloads)
                result["stream_finished_job"] = {
                    "samples": len(payloads),
                    "samples_per_s": round(len(payloads) / seconds, 1),
                    "MB_per_s": round(total_bytes / seconds / 1e6, 2),
                    "bytes_per_sample": round(total_bytes / max(1, len(payloads))),
                }

                # The same bytes written as the dataset writer writes them (atomic, fsync per file).
                out = Path(folder) / "disk"
                started = time.perf_counter()
                for number, (image, meta) in enumerate(payloads):
                    atomic_write_bytes(out / f"images/{number:06d}.png", image)
                    atomic_write_bytes(out / f"meta/{number:06d}.json", meta)
                seconds = time.perf_counter() - started
                result["disk_write_same_bytes"] = {
                    "samples": len(payloads),
                    "samples_per_s": round(len(payloads) / seconds, 1),
                    "MB_per_s": round(total_bytes / seconds / 1e6, 2),
                }

                # A live job streamed from submission to its end by one consumer.
                live_job = client.submit(scene, count=count, seed=1, **settings)
                submitted = time.perf_counter()
                received, cursor, end = 0, 0, False
                while not end:
                    batch = client.stream(live_job, cursor=cursor, credit=4, wait_s=5)
                    received += len(batch.samples)
                    cursor, end = batch.cursor, batch.end
                last_sample = time.perf_counter()
                status = client.status(live_job)
                result["live_stream"] = {
                    "samples": received,
                    "seconds_submit_to_last_sample": round(last_sample - submitted, 2),
                    "job_seconds_started_to_finished": round(status["finished"] - status["started"], 2),
                    "note": "the stream ends when the job does; its last sample arrives within one poll",
                }
    return result
