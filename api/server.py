"""`scenesmith serve`: the ZMQ request loop in front of the job store and the job runner.

Why this shape: one ROUTER socket and one single-threaded poll loop answer every request, so a
long render never delays a `status` reply; rendering happens in the runner thread, scene checks of
submissions in a small thread pool (their replies are sent when ready), and stream requests that
find nothing new are parked until a sample finishes or their wait runs out. Nothing a request
contains can end the loop: every failure becomes an error reply.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import zmq

import scenesmith
from scenesmith.annotate.dataset_writer import ANNOTATIONS_FILE, sample_files
from scenesmith.api import protocol as p
from scenesmith.api.jobs import (
    Limits,
    check_spec,
    dataset_dir,
    discard_job_folder,
    job_dir,
    make_spec,
    remove_discarded,
    remove_in_background,
    same_submission,
    sent_spec,
)
from scenesmith.api.runner import JobRunner, reap_orphaned_workers, recover_interrupted
from scenesmith.api.security import (
    ensure_token,
    hide_server_paths,
    is_loopback,
    load_or_create_curve_key,
    safe_relative_path,
    token_matches,
)
from scenesmith.api.store import Job, JobStore, QueueFull
from scenesmith.errors import UserError
from scenesmith.file_lock import try_lock
from scenesmith.pipeline import MANIFEST
from scenesmith.procedural.loader import SceneRuleError
from scenesmith.render.pool import PoolConfig

log = logging.getLogger(__name__)
# Six digits or more: `sample_stem` pads to six, and a dataset may hold a million images or more.
_SAMPLE_PATH = re.compile(r"^(images|masks|depth|meta)/(\d{6,})(_instance|_semantic)?\.(png|jpg|exr|json)$")


def file_version(stat: os.stat_result) -> str:
    """Changes whenever the file is replaced: dataset files are written to a temp file and renamed
    (a new inode), so a client can tell that a file changed between two chunks of one fetch."""
    return f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"


@dataclass
class ServerConfig:
    bind: str = "tcp://127.0.0.1:5555"
    data_root: Path = Path("scenesmith_data")
    token_file: Path | None = None  # default: data_root/token (created if missing)
    curve_key: Path | None = None  # CURVE secret key file (created if missing); required off loopback
    device: str = "auto"
    pool: PoolConfig = field(default_factory=PoolConfig)
    limits: Limits = field(default_factory=Limits)


@dataclass
class _Parked:
    envelope: list[bytes]
    request: p.StreamRequest
    deadline: float
    version: int


class Server:
    """Owns the socket, the store, the runner and the loop. `serve_forever` until `stop()`."""

    def __init__(self, config: ServerConfig, pool_factory: Any = None) -> None:
        self.config = config
        self.limits = config.limits
        self.data_root = Path(config.data_root).resolve()
        self.data_root.mkdir(parents=True, exist_ok=True)
        (self.data_root / "scenes").mkdir(exist_ok=True)
        self._lock_file = _lock_data_root(self.data_root)
        reap_orphaned_workers(self.data_root)
        self.token = ensure_token(config.token_file or self.data_root / "token")
        loopback = is_loopback(config.bind)
        if not loopback and config.curve_key is None:
            raise UserError(
                f"--bind {config.bind}: not a loopback address; give --curve-key FILE so traffic is "
                "encrypted (ZMQ CURVE) as well as token-checked"
            )
        self.store = JobStore(self.data_root / "jobs.sqlite")
        remove_discarded(self.data_root, self.store.job_ids())
        if requeued := recover_interrupted(self.store, self.data_root):
            log.info("resuming %d interrupted job(s): %s", len(requeued), ", ".join(requeued))
        self.runner = JobRunner(
            self.store, self.data_root, config.device, config.pool, pool_factory, config.limits
        )
        self.checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scenesmith-submit-check")
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, self.limits.hard_message_bytes)
        self.public_key: bytes | None = None
        if config.curve_key is not None:
            self.public_key, secret = load_or_create_curve_key(config.curve_key)
            self.socket.curve_server = True
            self.socket.curve_secretkey = secret
            self.socket.curve_publickey = self.public_key
        try:
            self.socket.bind(config.bind)
        except zmq.ZMQError as exc:
            self.close()
            raise UserError(f"--bind {config.bind}: {exc}") from None
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._pending: list[tuple[list[bytes], str, Future]] = []
        self._parked: list[_Parked] = []
        self._running = False

    # ------------------------------------------------------------------ loop
    def serve_forever(self) -> None:
        """Answer requests until `stop()` (SIGTERM/SIGINT in `serve`)."""
        self.runner.start()
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        self._running = True
        try:
            while self._running:
                timeout = 5 if self._pending else 50
                if dict(poller.poll(timeout)).get(self.socket):
                    for _ in range(100):  # drain a burst, then look after deferred replies
                        try:
                            frames = self.socket.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._handle(frames)
                try:
                    self._finish_pending()
                    self._serve_parked()
                except Exception:  # noqa: BLE001 - never let one reply end the loop
                    log.exception("deferred reply failed")
        finally:
            self.close()

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        """Stop the runner (the job in flight finishes its images and is re-queued), then the rest."""
        if self.runner.is_alive():
            self.runner.shutdown()
        self.checks.shutdown(wait=False, cancel_futures=True)
        self.socket.close(linger=0)
        self.context.term()
        self.store.close()
        self._lock_file.close()

    # --------------------------------------------------------------- requests
    def _handle(self, frames: list[bytes]) -> None:
        envelope, body = _split_envelope(frames)
        request_id: str | None = None
        try:
            size = sum(len(f) for f in body)
            if size > self.limits.max_request_bytes:
                raise p.ProtocolError(
                    p.TOO_LARGE,
                    f"request of {size} bytes exceeds the limit of {self.limits.max_request_bytes}",
                )
            if len(body) != 1:
                raise p.ProtocolError(p.BAD_REQUEST, f"expected one JSON frame, got {len(body)}")
            document = p.decode_json_frame(body[0])
            raw_id = document.get("id")
            request_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
            if not token_matches(document.get("token"), self.token):
                raise p.ProtocolError(p.UNAUTHORIZED, "missing or wrong token")
            request = p.parse_request(document)
            self._dispatch(envelope, request)
        except p.ProtocolError as exc:
            self._send_error(envelope, request_id, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug answers one request, never ends the loop
            log.exception("request failed")
            self._send_error(envelope, request_id, p.INTERNAL, f"{type(exc).__name__}: {exc}")

    def _dispatch(self, envelope: list[bytes], request: p.Request) -> None:
        if isinstance(request, p.PingRequest):
            server = {"version": scenesmith.__version__, "protocol": p.PROTOCOL_VERSION}
            self._reply(envelope, request, server={**server, "runner_alive": self.runner.is_alive()})
        elif isinstance(request, p.SubmitRequest):
            self._submit(envelope, request)
        elif isinstance(request, p.StatusRequest):
            self._reply(envelope, request, job=self._status(self._job(request.job)))
        elif isinstance(request, p.ListRequest):
            self._reply(envelope, request, jobs=[self._status(job) for job in self.store.list(request.limit)])
        elif isinstance(request, p.CancelRequest):
            self._cancel(envelope, request)
        elif isinstance(request, p.ResumeRequest):
            self._resume(envelope, request)
        elif isinstance(request, p.DeleteRequest):
            self._delete(envelope, request)
        elif isinstance(request, p.ResultRequest):
            self._result(envelope, request)
        elif isinstance(request, p.FilesRequest):
            self._files(envelope, request)
        elif isinstance(request, p.FetchRequest):
            self._fetch(envelope, request)
        elif isinstance(request, p.StreamRequest):
            self._stream(envelope, request, time.monotonic() + request.wait_s)

    def _reply(
        self, envelope: list[bytes], request: p.Request, frames: list[bytes] = (), **fields: Any
    ) -> None:
        self._send(envelope, p.ok_reply(request.id, **fields), frames)

    def _send(self, envelope: list[bytes], reply: dict[str, Any], frames: list[bytes] = ()) -> None:
        try:
            self.socket.send_multipart([*envelope, p.encode(reply), *frames], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # peer gone or its queue full: the reply is dropped, the client retries
            log.debug("reply dropped: %s", exc)

    def _send_error(self, envelope: list[bytes], request_id: str | None, code: str, message: str) -> None:
        self._send(envelope, p.error_reply(request_id, code, hide_server_paths(message, self.data_root)))

    def _job(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise p.ProtocolError(p.NOT_FOUND, f"no job {job_id}")
        return job

    def _status(self, job: Job) -> dict[str, Any]:
        rate = self.store.rate(job)
        remaining = job.total - job.done
        return {
            "id": job.id,
            "state": job.state,
            "done": job.done,
            "total": job.total,
            "images_per_s": round(rate, 4) if rate else None,
            # Only while running: a cancelling job renders no more than what its workers hold.
            "eta_s": round(remaining / rate, 1) if rate and job.state == "running" else None,
            "position": self.store.queue_position(job) if job.state == "queued" else None,
            "source": job.spec["source"],
            "seed": job.spec["seed"],
            "image_format": job.spec["image_format"],
            "outputs": job.spec["outputs"],
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
            "error": None if job.error is None else hide_server_paths(job.error, self.data_root),
        }

    # ----------------------------------------------------------------- submit
    def _submit(self, envelope: list[bytes], request: p.SubmitRequest) -> None:
        future = self.checks.submit(self._check_and_create, request)
        self._pending.append((envelope, request.id, future))

    def _check_and_create(self, request: p.SubmitRequest) -> dict[str, Any]:
        """In a check thread: load the scene exactly as the runner will, enforce the caps, store.

        A retry is looked up first: it gets its job back as it was accepted, even if its scene file
        was edited into an invalid one or removed since, or the server restarted with lower caps.
        """
        earlier = self.store.by_request_key(request.id)
        if earlier is not None:
            self._check_retry(request, earlier, sent_spec(request))
            return self._status(earlier)
        try:
            spec = make_spec(request, self.data_root)
            check_spec(spec, self.data_root, self.limits)
        except SceneRuleError as exc:
            raise p.ProtocolError(p.INVALID_SCENE, str(exc)) from None
        try:
            job = self.store.create(
                secrets.token_hex(8), request.id, spec, request.count, self.limits.max_active_jobs
            )
        except QueueFull as exc:
            raise p.ProtocolError(p.OVER_LIMIT, str(exc)) from None
        self._check_retry(request, job, spec)  # another submit under this id may have got in first
        job_dir(self.data_root, job.id).mkdir(parents=True, exist_ok=True)
        self.runner.wake()
        return self._status(job)

    @staticmethod
    def _check_retry(request: p.SubmitRequest, job: Job, spec: dict[str, Any]) -> None:
        """Refuse a submit that reuses the id of `job` without repeating its submit."""
        if not same_submission(job.spec, spec):
            raise p.ProtocolError(
                p.BAD_REQUEST,
                f"id: {request.id!r} was already used by a different submit (job {job.id}); "
                "a retry must repeat its submit unchanged, a new submit needs a new id",
            )

    def _finish_pending(self) -> None:
        still: list[tuple[list[bytes], str, Future]] = []
        for envelope, request_id, future in self._pending:
            if not future.done():
                still.append((envelope, request_id, future))
                continue
            error = future.exception()
            if error is None:
                self._send(envelope, p.ok_reply(request_id, job=future.result()))
            elif isinstance(error, p.ProtocolError):
                self._send_error(envelope, request_id, error.code, error.message)
            else:
                log.error("submit check failed: %r", error)
                self._send_error(envelope, request_id, p.INTERNAL, f"{type(error).__name__}: {error}")
        self._pending = still

    # ----------------------------------------------------------- cancel, result
    def _cancel(self, envelope: list[bytes], request: p.CancelRequest) -> None:
        self._job(request.job)
        if self.store.request_cancel(request.job) == "cancelling":
            self.runner.cancel(request.job)
        self.runner.version += 1
        self._reply(envelope, request, job=self._status(self._job(request.job)))

    def _resume(self, envelope: list[bytes], request: p.ResumeRequest) -> None:
        """A failed or cancelled job is queued again and resumes its dataset; a queued or running
        one is left as it is (a retried resume is harmless); a complete one has nothing to resume. A
        cancelling one is refused: left as it is, it would end cancelled with nothing to resume it, while
        the reply said all was well (only this loop makes a job cancelling, so the check cannot race)."""
        job = self._job(request.job)
        if job.state == "complete":
            raise p.ProtocolError(p.BAD_REQUEST, f"job {job.id} is complete: nothing to resume")
        if job.state == "cancelling":
            raise p.ProtocolError(
                p.BAD_REQUEST, f"job {job.id} is cancelling: resume it once it is cancelled"
            )
        try:
            if self.store.request_resume(job.id, self.limits.max_active_jobs) == "queued":
                self.runner.wake()
        except QueueFull as exc:
            raise p.ProtocolError(p.OVER_LIMIT, str(exc)) from None
        self.runner.version += 1
        self._reply(envelope, request, job=self._status(self._job(job.id)))

    def _delete(self, envelope: list[bytes], request: p.DeleteRequest) -> None:
        """Forget a job that is over and remove its dataset: without it, a server that takes jobs day
        after day fills its disk. A queued or running job is refused (cancel it first): the runner
        may be writing its folder. Streams and fetches of the job then get `not_found`."""
        job = self._job(request.job)
        state = self.store.delete(job.id)
        if state != "deleted":
            raise p.ProtocolError(
                p.BAD_REQUEST, f"job {job.id} is {state}: cancel it, and delete it once it is cancelled"
            )
        discarded = discard_job_folder(self.data_root, job.id)
        if discarded is not None:
            remove_in_background(discarded)
        self.runner.version += 1  # parked streams of the job wake up to hear it is gone
        self._reply(envelope, request, job={"id": job.id, "state": "deleted"})

    def _result(self, envelope: list[bytes], request: p.ResultRequest) -> None:
        job = self._job(request.job)
        if job.state != "complete":
            raise p.ProtocolError(p.NOT_FINISHED, f"job {job.id} is {job.state} ({job.done}/{job.total})")
        path = dataset_dir(self.data_root, job.id) / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise p.ProtocolError(p.INTERNAL, f"job {job.id}: {MANIFEST} unreadable ({exc})") from None
        self._reply(envelope, request, job=self._status(job), manifest=manifest)

    # ------------------------------------------------------------ files, fetch
    def _allowed_files(self, job: Job) -> list[str]:
        """Every file a client may fetch: the requested outputs of finished samples, plus the
        manifest and (when written) the COCO file. Nothing else in the folder is served."""
        wanted = set(job.spec["outputs"])
        paths = [
            path
            for index in sorted(self.store.logged_indices(job.id))
            for key, path in sample_files(index, job.spec["image_format"]).items()
            if key in wanted
        ]
        out = dataset_dir(self.data_root, job.id)
        return [*paths, *(name for name in (MANIFEST, ANNOTATIONS_FILE) if (out / name).is_file())]

    def _files(self, envelope: list[bytes], request: p.FilesRequest) -> None:
        job = self._job(request.job)
        out = dataset_dir(self.data_root, job.id)
        files = []
        for path in self._allowed_files(job):
            try:
                files.append({"path": path, "size": (out / path).stat().st_size})
            except OSError:
                continue
        self._reply(envelope, request, job=self._status(job), files=files)

    def _fetch(self, envelope: list[bytes], request: p.FetchRequest) -> None:
        job = self._job(request.job)
        path = self._checked_path(job, request.path)
        length = min(request.length, self.limits.max_chunk_bytes)
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            handle.seek(request.offset)
            chunk = handle.read(length)
        eof = request.offset + len(chunk) >= stat.st_size
        self._reply(
            envelope,
            request,
            [chunk],
            path=request.path,
            offset=request.offset,
            length=len(chunk),
            size=stat.st_size,
            eof=eof,
            version=file_version(stat),
        )

    def _checked_path(self, job: Job, relative: str) -> Path:
        """The file behind a dataset-relative path, only if the job's dataset lists it."""
        pure = safe_relative_path(relative)
        if pure is None:
            raise p.ProtocolError(p.BAD_REQUEST, f"path {relative!r} must be relative, without '..'")
        out = dataset_dir(self.data_root, job.id)
        name = str(pure)
        allowed = False
        if name in (MANIFEST, ANNOTATIONS_FILE):
            allowed = True
        elif match := _SAMPLE_PATH.fullmatch(name):
            index = int(match.group(2))
            files = sample_files(index, job.spec["image_format"])
            allowed = any(files[k] == name for k in job.spec["outputs"]) and self.store.has_sample(
                job.id, index
            )
        target = out / name
        if not allowed or not target.is_file() or not target.resolve().is_relative_to(out.resolve()):
            raise p.ProtocolError(p.NOT_FOUND, f"job {job.id} has no file {relative!r}")
        return target

    # ----------------------------------------------------------------- stream
    def _stream(self, envelope: list[bytes], request: p.StreamRequest, deadline: float) -> None:
        """Reply with up to `credit` finished samples of the shard after the cursor, or park the
        request until one finishes or `deadline` passes (then reply with none)."""
        version = self.runner.version  # read before the log: a sample logged after it wakes the request
        job = self._job(request.job)
        missing = [f for f in request.fields if f not in job.spec["outputs"]]
        if missing:
            raise p.ProtocolError(
                p.BAD_REQUEST, f"fields {missing} are not among the job's outputs {job.spec['outputs']}"
            )
        terminal = job.state in p.TERMINAL_STATES  # read before the log, so `end` never skips a late sample
        end_seq = self.store.log_length(job.id)
        credit = min(request.credit, self.limits.max_credit)
        rows = [
            r
            for r in self.store.samples_after(job.id, request.cursor, request.shard, credit)
            if r[0] <= end_seq
        ]
        if not rows and not terminal and time.monotonic() < deadline:
            self._parked.append(_Parked(envelope, request, deadline, version))
            return
        out = dataset_dir(self.data_root, job.id)
        samples: list[dict[str, Any]] = []
        frames: list[bytes] = []
        budget = self.limits.max_reply_bytes
        for seq, index in rows:
            files = sample_files(index, job.spec["image_format"])
            data = [(out / files[f]).read_bytes() for f in request.fields]
            size = sum(len(d) for d in data)
            if samples and size > budget:
                break
            budget -= size
            samples.append({"index": index, "seq": seq, "sizes": [len(d) for d in data]})
            frames.extend(data)
        cursor = (
            end_seq
            if len(samples) == len(rows) < credit
            else samples[-1]["seq"]
            if samples
            else request.cursor
        )
        cursor = max(cursor, request.cursor)
        self._reply(
            envelope,
            request,
            frames,
            samples=samples,
            fields=request.fields,
            cursor=cursor,
            end=terminal and cursor >= end_seq,
            state=job.state,
            done=job.done,
            total=job.total,
        )

    def _serve_parked(self) -> None:
        if not self._parked:
            return
        now = time.monotonic()
        version = self.runner.version
        parked, self._parked = self._parked, []
        for entry in parked:
            if entry.version == version and now < entry.deadline:
                self._parked.append(entry)
                continue
            try:
                self._stream(entry.envelope, entry.request, entry.deadline)
            except p.ProtocolError as exc:
                self._send_error(entry.envelope, entry.request.id, exc.code, exc.message)
            except Exception as exc:  # noqa: BLE001 - one request fails, the loop goes on
                log.exception("stream request failed")
                self._send_error(entry.envelope, entry.request.id, p.INTERNAL, str(exc))


def _split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """[identity, (b"" delimiter,) body...] → (routing envelope to echo, body frames)."""
    if len(frames) >= 2 and frames[1] == b"":
        return frames[:2], frames[2:]
    return frames[:1], frames[1:]


def _lock_data_root(data_root: Path) -> BinaryIO:
    """One server per data root: two would run the same jobs twice. Released when the process dies."""
    handle = try_lock(data_root / "server.lock")  # held for the server's lifetime
    if handle is None:
        raise UserError(f"{data_root}: another scenesmith server is using this data root")
    return handle


def serve(config: ServerConfig) -> int:
    """Run a server in the foreground until SIGTERM or Ctrl-C; the job in flight is resumed next time."""
    # The job runner's threads (scene building, labelling) hold the GIL for long stretches; a shorter
    # switch interval hands it to the request loop sooner, which is what status latency is made of.
    sys.setswitchinterval(0.001)
    server = Server(config)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    key = f" (CURVE public key {server.public_key.decode()})" if server.public_key else ""
    token_file = config.token_file or server.data_root / "token"
    print(f"scenesmith serve: listening on {server.endpoint}{key}; token in {token_file}", flush=True)
    server.serve_forever()
    print("scenesmith serve: stopped", flush=True)
    return 0
