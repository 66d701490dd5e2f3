"""`scenesmith.api.Client`: submit jobs, follow them, fetch their files and stream their samples.

Why a DEALER socket with request ids: a call never hangs. Each request waits at most its timeout,
then the socket is rebuilt (dropping anything stale) and the same request, with the same id, is
sent again; replies carrying another id are discarded. Retrying `submit` is safe because the server
keys submissions by request id.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zmq

from scenesmith.annotate.atomic import TEMP_PREFIX, atomic_write_bytes
from scenesmith.api.protocol import (
    DEFAULT_MAX_REQUEST_BYTES,
    MAX_SCENE_YAML_CHARS,
    PROTOCOL_VERSION,
    REWRITTEN_FILES,
    TERMINAL_STATES,
    encode,
)
from scenesmith.api.security import read_server_key, read_token, safe_relative_path
from scenesmith.errors import UserError, identity_differences

DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"
FETCH_TRIES = 5  # a file replaced on the server mid-fetch is fetched again, this many times at most


_CODE_NOTE = "scenesmith API error code: "


def listed_strings(key: str, value: Sequence[str], expected: str) -> list[str]:
    """`value` as a list; a bare string is refused by name, since list("image") would send one entry per
    character and the server could only answer about single letters."""
    if isinstance(value, str):
        raise UserError(f"{key}: expected a list of {expected}, got the string {value!r}")
    return list(value)


class ApiError(UserError):
    """The server answered with an error (code + message), or could not be reached."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if message is None:  # re-raised from a DataLoader worker: torch passes the traceback text alone
            message = code
            found = re.findall(rf"{_CODE_NOTE}(\w+)", message)
            code = found[-1] if found else "worker_error"
        super().__init__(message)
        self.code = code
        self.message = message
        # Printed with the traceback, so a DataLoader worker's error keeps its code across processes.
        self.add_note(f"{_CODE_NOTE}{code}")


class ServerUnavailable(ApiError):
    """No reply within the timeout, after every retry."""


@dataclass
class StreamedSample:
    """One finished sample: its index, its position in the job's finish log, and raw field bytes."""

    index: int
    seq: int
    data: dict[str, bytes]  # field name ("image", "meta", ...) → file bytes


@dataclass
class StreamBatch:
    samples: list[StreamedSample]
    cursor: int  # pass back to get the next samples
    end: bool  # the job is over and every sample of this shard has been delivered
    state: str
    done: int
    total: int


def resolve_token(token: str | None = None, token_file: str | os.PathLike[str] | None = None) -> str:
    """The token: given directly, from a file, or from $SCENESMITH_TOKEN / $SCENESMITH_TOKEN_FILE."""
    if token:
        return token
    if token_file:
        return read_token(Path(token_file))
    if os.environ.get("SCENESMITH_TOKEN"):
        return os.environ["SCENESMITH_TOKEN"]
    if os.environ.get("SCENESMITH_TOKEN_FILE"):
        return read_token(Path(os.environ["SCENESMITH_TOKEN_FILE"]))
    raise UserError(
        "no API token: give --token-file (the server prints where it is), or set SCENESMITH_TOKEN_FILE "
        "to that file or SCENESMITH_TOKEN to the token"
    )


class Client:
    """A connection to one scenesmith server. Thread-safe (one request at a time); not fork-safe:
    make a new Client in each process (the StreamingDataset does this per DataLoader worker)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        server_key: str | bytes | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
    ) -> None:
        self.address = address
        self.token = resolve_token(token, token_file)
        key = server_key if server_key is not None else os.environ.get("SCENESMITH_SERVER_KEY")
        if isinstance(key, str):
            key = read_server_key(key)
        self.server_key: bytes | None = key
        if not timeout_s > 0:
            raise UserError(f"timeout_s: expected seconds > 0 per try, got {timeout_s}")
        self.timeout_s = timeout_s
        self.retries = max(1, retries)
        self._context = zmq.Context()
        self._socket: zmq.Socket | None = None
        self._lock = threading.Lock()
        self._prefix = secrets.token_hex(6)
        self._counter = 0

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close(linger=0)
                self._socket = None
            self._context.term()

    # ----------------------------------------------------------- transport
    def _connect(self) -> zmq.Socket:
        """A fresh DEALER socket. A socket whose set-up fails is closed at once: left open, it would
        block `close()` (the context waits for every socket) and the caller would hang."""
        socket = self._context.socket(zmq.DEALER)
        try:
            socket.setsockopt(zmq.LINGER, 0)
            if self.server_key is not None:
                public, secret = zmq.curve_keypair()  # an ephemeral client key: the token authenticates
                socket.curve_serverkey = self.server_key
                socket.curve_publickey = public
                socket.curve_secretkey = secret
            socket.connect(self.address)
        except zmq.ZMQError as exc:
            socket.close(linger=0)
            key = ", and the server key as the server prints it" if self.server_key is not None else ""
            raise ApiError(
                "bad_address",
                f"cannot connect to {self.address!r} ({exc}); "
                f"expected an address like {DEFAULT_ADDRESS}{key}",
            ) from None
        return socket

    def request(
        self, op: str, frames_out: Sequence[bytes] = (), timeout_s: float | None = None, **fields: Any
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Send one request and return (reply, extra binary frames); raise ApiError on an error reply
        and ServerUnavailable when every try timed out."""
        with self._lock:
            if self._context.closed:  # else a bare "ZMQError: Operation not supported" from inside zmq
                raise UserError(f"this client of {self.address} is closed; make a new Client")
            self._counter += 1
            request_id = f"{self._prefix}-{self._counter}"
            payload = encode(
                {"v": PROTOCOL_VERSION, "id": request_id, "token": self.token, "op": op, **fields}
            )
            wait_ms = int(1000 * (timeout_s if timeout_s is not None else self.timeout_s))
            for _attempt in range(self.retries):
                if self._socket is None:
                    self._socket = self._connect()
                self._socket.send_multipart([b"", payload, *frames_out])
                reply = self._receive(request_id, wait_ms)
                if reply is not None:
                    header, extra = reply
                    if not header.get("ok"):
                        error = header.get("error") or {}
                        raise ApiError(
                            str(error.get("code", "error")), str(error.get("message", "request failed"))
                        )
                    return header, extra
                self._socket.close(linger=0)  # drop whatever is queued; a fresh socket reconnects
                self._socket = None
            # A CURVE handshake that fails is silent (the server never sees the request), so a missing
            # or wrong key looks exactly like a server that is down: say which case this may be.
            if self.server_key is None:
                curve = (
                    "sent without a CURVE server key: a server started with --curve-key also looks like "
                    "this (give its public key with --server-key or SCENESMITH_SERVER_KEY)"
                )
            else:
                curve = (
                    "sent with CURVE server key "
                    f"{self.server_key[:8].decode('ascii', 'replace')}…: a key that is not the server's "
                    "public key (FILE.pub of its --curve-key), or a server without --curve-key, also "
                    "looks like this"
                )
            largest = max(len(part) for part in (payload, *frames_out))
            dropped = (
                f"; this request has a part of {largest / 2**20:.1f} MiB, and a server with the default "
                f"--max-request-bytes drops parts over {4 * DEFAULT_MAX_REQUEST_BYTES / 2**20:g} MiB "
                "unanswered"
                if largest > 4 * DEFAULT_MAX_REQUEST_BYTES
                else ""
            )
            raise ServerUnavailable(
                "unavailable",
                f"no reply from the scenesmith server at {self.address} ({self.retries} tries, "
                f"{self.timeout_s if timeout_s is None else timeout_s:g} s each); {curve}{dropped}",
            )

    def _receive(self, request_id: str, wait_ms: int) -> tuple[dict[str, Any], list[bytes]] | None:
        assert self._socket is not None
        deadline = time.monotonic() + wait_ms / 1000
        while (left := deadline - time.monotonic()) > 0:
            if not self._socket.poll(int(left * 1000) + 1, zmq.POLLIN):
                continue
            frames = self._socket.recv_multipart()
            if frames and frames[0] == b"":
                frames = frames[1:]
            if not frames:
                continue
            try:
                header = json.loads(frames[0])
            except ValueError:
                continue
            if isinstance(header, dict) and header.get("id") in (request_id, None):
                return header, frames[1:]
            # a late reply to an earlier try: skip it
        return None

    # ----------------------------------------------------------------- ops
    def ping(self) -> dict[str, Any]:
        return self.request("ping")[0]["server"]

    def submit(
        self,
        scene: str | None = None,
        *,
        scene_yaml: str | None = None,
        count: int,
        seed: int = 0,
        overrides: Sequence[str] = (),
        resolution: tuple[int, int] | None = None,
        samples: int | None = None,
        image_format: str = "png",
        outputs: Sequence[str] | None = None,
    ) -> str:
        """Queue a job: `scene` (built-in or server data-root name) or `scene_yaml` (rules as text).
        Returns the job id."""
        listed = listed_strings("overrides", overrides, "'key.path=value' strings")
        fields: dict[str, Any] = {"count": count, "seed": seed, "overrides": listed}
        fields["image_format"] = image_format
        if scene is not None:
            fields["scene"] = scene
        if scene_yaml is not None:
            if len(scene_yaml) > MAX_SCENE_YAML_CHARS:  # refused here: too large a request gets no reply
                raise UserError(
                    f"scene_yaml: {len(scene_yaml):,} characters, above the {MAX_SCENE_YAML_CHARS:,} a "
                    "server takes; put the rules (and their assets) in the server's DATA_ROOT/scenes/ "
                    "and name them"
                )
            fields["scene_yaml"] = scene_yaml
        if resolution is not None:
            fields["resolution"] = list(resolution)
        if samples is not None:
            fields["samples"] = samples
        if outputs is not None:
            fields["outputs"] = listed_strings("outputs", outputs, "output names")
        return self.request("submit", **fields)[0]["job"]["id"]

    def status(self, job: str) -> dict[str, Any]:
        """state, done, total, images_per_s, eta_s, position (queued), error, ..."""
        return self.request("status", job=job)[0]["job"]

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.request("list", limit=limit)[0]["jobs"]

    def cancel(self, job: str) -> dict[str, Any]:
        return self.request("cancel", job=job)[0]["job"]

    def resume(self, job: str) -> dict[str, Any]:
        """Queue a failed or cancelled job again; it renders only the images it is missing."""
        return self.request("resume", job=job)[0]["job"]

    def delete(self, job: str) -> dict[str, Any]:
        """Forget a complete, failed or cancelled job and remove its dataset on the server (error
        `bad_request` for a queued or running one: cancel it first)."""
        return self.request("delete", job=job)[0]["job"]

    def result(self, job: str) -> dict[str, Any]:
        """The finished dataset's manifest (error `not_finished` before the job is complete)."""
        return self.request("result", job=job)[0]["manifest"]

    def files(self, job: str) -> list[dict[str, Any]]:
        return self.request("files", job=job)[0]["files"]

    def wait(self, job: str, timeout_s: float = 3600.0, poll_s: float = 0.5) -> dict[str, Any]:
        """Poll `status` until the job is complete, failed or cancelled (or `timeout_s` passes)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(job)
            if status["state"] in TERMINAL_STATES:
                return status
            if time.monotonic() > deadline:
                raise ApiError("timeout", f"job {job} still {status['state']} after {timeout_s:g} s")
            time.sleep(poll_s)

    def fetch(self, job: str, out_dir: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> Path:
        """Copy the job's dataset files into `out_dir` (same layout), in chunks over this connection.

        A sample file already there with the right size is skipped, so an interrupted fetch resumes:
        sample files never change once written. `manifest.json` and `annotations.json` are rewritten
        by every run of a job, so they are always fetched again.

        Skipping by size is only sound for this job's own files, so `out_dir` must be empty or hold
        this job's dataset (the dataset keys of the two manifests agree); anything else is refused
        rather than left as a mix of two datasets. The manifest is saved first with its status set to
        "fetching", so a copy cut short is still recognised as this job's when fetched again, and is
        not taken for a finished dataset meanwhile; the server's manifest replaces it last.
        """
        from scenesmith.pipeline import MANIFEST

        if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1:
            # Checked here, in the caller's terms: the server would refuse it as the protocol's `length`.
            raise ValueError(f"chunk_bytes must be a whole number of bytes, at least 1 (got {chunk_bytes!r})")
        out = Path(out_dir)
        listing: list[tuple[str, int]] = []
        for entry in self.files(job):
            relative = safe_relative_path(str(entry["path"]))
            if relative is None:  # never write outside out_dir, whatever the server says
                raise ApiError("bad_reply", f"server listed an unsafe path {entry['path']!r}")
            listing.append((str(relative), entry["size"]))
        manifest, served = None, None
        if any(path == MANIFEST for path, _ in listing):
            manifest = self._fetch_bytes(job, MANIFEST, chunk_bytes)
            served = _served_manifest(job, manifest)
        _check_fetch_folder(out, job, served)
        if manifest is not None:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(
                out / MANIFEST, json.dumps({**served, "status": "fetching"}, indent=2).encode()
            )
        for path, size in listing:
            target = out / path
            if path == MANIFEST or (
                path not in REWRITTEN_FILES and target.is_file() and target.stat().st_size == size
            ):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{TEMP_PREFIX}{target.name}")  # a temp name readers skip
            for _ in range(FETCH_TRIES):
                with open(partial, "wb") as handle:
                    if self._fetch_file(job, path, handle, chunk_bytes):
                        break
            else:
                partial.unlink(missing_ok=True)
                raise ApiError("changing", f"{path}: replaced on the server during {FETCH_TRIES} fetches")
            os.replace(partial, target)
        if manifest is not None:
            atomic_write_bytes(out / MANIFEST, manifest)
        return out

    def _fetch_bytes(self, job: str, path: str, chunk_bytes: int) -> bytes:
        """One whole file in memory (the manifest, read before anything is written to the folder)."""
        for _ in range(FETCH_TRIES):
            buffer = io.BytesIO()
            if self._fetch_file(job, path, buffer, chunk_bytes):
                return buffer.getvalue()
        raise ApiError("changing", f"{path}: replaced on the server during {FETCH_TRIES} fetches")

    def _fetch_file(self, job: str, path: str, handle: BinaryIO, chunk_bytes: int) -> bool:
        """Write one file to `handle`; False when the server replaced it between two chunks (the
        bytes would splice an old file and a new one, so the caller starts over)."""
        version = None
        offset = 0
        while True:
            reply, frames = self.request("fetch", job=job, path=path, offset=offset, length=chunk_bytes)
            if version is not None and reply.get("version") != version:
                return False
            version = reply.get("version")
            handle.write(frames[0])
            offset += len(frames[0])
            if reply["eof"] or not frames[0]:
                return True

    def stream(
        self,
        job: str,
        cursor: int = 0,
        credit: int = 8,
        shard: tuple[int, int] = (0, 1),
        fields: Sequence[str] = ("image", "meta"),
        wait_s: float = 5.0,
    ) -> StreamBatch:
        """Up to `credit` finished samples after `cursor` (0: from the start of the finish log)."""
        reply, frames = self.request(
            "stream",
            timeout_s=self.timeout_s + wait_s,
            job=job,
            cursor=cursor,
            credit=credit,
            shard=list(shard),
            fields=listed_strings("fields", fields, "field names"),
            wait_s=wait_s,
        )
        names = reply["fields"]
        samples, position = [], 0
        for entry in reply["samples"]:
            data = dict(zip(names, frames[position : position + len(names)], strict=True))
            position += len(names)
            samples.append(StreamedSample(entry["index"], entry["seq"], data))
        return StreamBatch(
            samples, reply["cursor"], reply["end"], reply["state"], reply["done"], reply["total"]
        )


def _served_manifest(job: str, manifest: bytes) -> dict[str, Any]:
    """The server's manifest of job `job`, checked to be a dataset's (its identity names a key)."""
    try:
        served = json.loads(manifest)
        served["identity"]["dataset_key"]  # noqa: B018 - present, or the reply is not a dataset's manifest
    except (ValueError, KeyError, TypeError):
        raise ApiError("bad_reply", f"job {job}: the server's manifest.json names no dataset") from None
    return served


def _check_fetch_folder(out: Path, job: str, served_manifest: dict[str, Any] | None) -> None:
    """Refuse an `out` that holds anything but job `job`'s dataset. Fetching keeps sample files of the
    listed size and overwrites the manifest, so into another dataset's folder it would leave a mix of
    two datasets under one manifest. The rules are those of `scenesmith generate --out`."""
    from scenesmith.pipeline import _existing_manifest, renderer_of

    existing = _existing_manifest(out)  # None for an empty folder; refuses one with files but no dataset
    if existing is None:
        return
    if served_manifest is None:
        raise UserError(
            f"{out}: holds a dataset, and job {job} has written none yet to compare it with; "
            "choose another --out"
        )
    served = served_manifest["identity"]
    if existing["identity"]["dataset_key"] != served["dataset_key"]:
        differing = identity_differences(existing["identity"], served)
        raise UserError(
            f"{out}: holds a different dataset than job {job} (differs in: "
            f"{', '.join(differing) or 'dataset key'}); fetching would mix the two — choose another --out"
        )
    # The same rules and seed on another renderer (CPU or GPU, denoiser) make other pixels, of other
    # sizes or not: the images already there would be kept as if they were the job's.
    mine, theirs = existing.get("render_settings_used"), served_manifest.get("render_settings_used")
    if mine and theirs and renderer_of(mine) != renderer_of(theirs):
        raise UserError(
            f"{out}: holds images rendered with {renderer_of(mine)}, job {job}'s were rendered with "
            f"{renderer_of(theirs)}; fetching would mix the two — choose another --out"
        )
