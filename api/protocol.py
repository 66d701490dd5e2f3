"""The wire protocol (version 1): request schemas, reply envelopes, error codes, frame layout.

Why a module of its own: the server, the client and the docs (`PROTOCOL.md`) must agree on every
field, so they all take it from here. Requests are one ZMQ frame of UTF-8 JSON; replies are one
JSON frame, followed by binary frames for `fetch` (one chunk) and `stream` (one frame per sample
field). Every request carries `v`, `id` (echoed, so a client can drop stale replies after a
retry), `token` and `op`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PROTOCOL_VERSION = 1

JOB_ID_RE = re.compile(r"^[0-9a-f]{16}$")  # secrets.token_hex(8); checked before a path is built
SCENE_NAME_RE = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"
REQUEST_ID_RE = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_SCENE_YAML_CHARS = 256 * 1024
# A server's default `--max-request-bytes`; ZMQ drops a message part above 4 × the server's limit.
DEFAULT_MAX_REQUEST_BYTES = 1 << 20

JobState = Literal["queued", "running", "cancelling", "complete", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"complete", "failed", "cancelled"})
# Dataset files that every run of a job rewrites (sample files never change once written).
REWRITTEN_FILES = frozenset({"manifest.json", "annotations.json"})
SampleField = Literal["image", "meta", "instance", "semantic", "depth"]
ALL_FIELDS: tuple[str, ...] = ("image", "meta", "instance", "semantic", "depth")

# Error codes of {"ok": false, "error": {"code", "message"}} replies.
BAD_REQUEST = "bad_request"  # not JSON, not an object, or the schema rejects it
UNAUTHORIZED = "unauthorized"  # missing or wrong token
TOO_LARGE = "too_large"  # the request exceeds the size limit
UNSUPPORTED_VERSION = "unsupported_version"
NOT_FOUND = "not_found"  # no such job, or a file the job's dataset does not list
INVALID_SCENE = "invalid_scene"  # the scene rules do not load (message names key path and value)
OVER_LIMIT = "over_limit"  # count, resolution, samples or queue length above the server's caps
NOT_FINISHED = "not_finished"  # `result` of a job that is not complete
INTERNAL = "internal"  # a bug on the server side; the server keeps running


class Request(BaseModel):
    """Fields every request carries. Unknown fields are errors, and values are taken as JSON typed
    them (strict: `true` is no count, `"2"` no number): a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", strict=True)

    v: Literal[1]
    id: Annotated[str, Field(pattern=REQUEST_ID_RE)]
    token: Annotated[str, Field(max_length=512)]


class JobRef(Request):
    job: Annotated[str, Field(pattern=JOB_ID_RE.pattern)]


class PingRequest(Request):
    op: Literal["ping"]


class SubmitRequest(Request):
    """N labelled images of a scene. Exactly one of `scene` (built-in or data-root scene name) and
    `scene_yaml` (scene rules as YAML text, data only). `resolution`/`samples` are rule overrides;
    every limit is checked on the rules after all overrides."""

    op: Literal["submit"]
    scene: Annotated[str, Field(pattern=SCENE_NAME_RE)] | None = None
    scene_yaml: Annotated[str, Field(min_length=1, max_length=MAX_SCENE_YAML_CHARS)] | None = None
    overrides: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=64)] = []
    count: Annotated[int, Field(ge=1)]
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    resolution: tuple[Annotated[int, Field(ge=8)], Annotated[int, Field(ge=8)]] | None = None
    samples: Annotated[int, Field(ge=1)] | None = None
    image_format: Literal["png", "jpg"] = "png"
    outputs: Annotated[list[SampleField], Field(min_length=1)] = list(ALL_FIELDS)

    @model_validator(mode="after")
    def _one_scene(self) -> SubmitRequest:
        if (self.scene is None) == (self.scene_yaml is None):
            raise ValueError("give exactly one of 'scene' (a name) and 'scene_yaml' (rules as YAML text)")
        if "image" not in self.outputs or "meta" not in self.outputs:
            raise ValueError("outputs must include 'image' and 'meta'")
        return self


class StatusRequest(JobRef):
    op: Literal["status"]


class CancelRequest(JobRef):
    op: Literal["cancel"]


class ResultRequest(JobRef):
    op: Literal["result"]


class DeleteRequest(JobRef):
    op: Literal["delete"]


class ResumeRequest(JobRef):
    op: Literal["resume"]


class FilesRequest(JobRef):
    op: Literal["files"]


MAX_LIST_LIMIT = 1000  # jobs per `list` reply
MAX_SHARDS = 1024  # parts a job's stream splits into: ranks × DataLoader workers


class ListRequest(Request):
    op: Literal["list"]
    limit: Annotated[int, Field(ge=1, le=MAX_LIST_LIMIT)] = 100


# File offsets and stream cursors fit a signed 64-bit integer (the OS's and SQLite's), with room.
MAX_POSITION = 2**62
MAX_WAIT_S = 30.0  # the longest a stream request holds its reply back


class FetchRequest(JobRef):
    """One chunk of one dataset file, by its path relative to the dataset (as `files` lists it)."""

    op: Literal["fetch"]
    path: Annotated[str, Field(min_length=1, max_length=256)]
    offset: Annotated[int, Field(ge=0, le=MAX_POSITION)] = 0
    length: Annotated[int, Field(ge=1)] = 1 << 20


class StreamRequest(JobRef):
    """Up to `credit` finished samples after `cursor` in the job's finish log, of shard
    `index % shard[1] == shard[0]`. Waits up to `wait_s` for one to finish when none is ready."""

    op: Literal["stream"]
    cursor: Annotated[int, Field(ge=0, le=MAX_POSITION)] = 0
    credit: Annotated[int, Field(ge=1)] = 8
    shard: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=1, le=MAX_SHARDS)]] = (0, 1)
    fields: Annotated[list[SampleField], Field(min_length=1)] = ["image", "meta"]
    wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S)] = 5.0

    @model_validator(mode="after")
    def _shard_in_range(self) -> StreamRequest:
        if self.shard[0] >= self.shard[1]:
            raise ValueError(f"shard [k, n] needs k < n, got {list(self.shard)}")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("fields must not repeat")
        return self


AnyRequest = Annotated[
    PingRequest
    | SubmitRequest
    | StatusRequest
    | CancelRequest
    | ResumeRequest
    | DeleteRequest
    | ResultRequest
    | FilesRequest
    | ListRequest
    | FetchRequest
    | StreamRequest,
    Field(discriminator="op"),
]


class _Envelope(BaseModel):
    request: AnyRequest


class ProtocolError(Exception):
    """A request the server answers with an error reply (code + one-line message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_request(document: dict[str, Any]) -> Request:
    """Validate a decoded request against the schema; errors become one readable line."""
    version = document.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:  # `true` and `1.0` are no version 1
        raise ProtocolError(
            UNSUPPORTED_VERSION, f"protocol version {document.get('v')!r} unsupported; this server speaks 1"
        )
    try:
        text = encode({"request": document})
    except ValueError:  # Python's json reads NaN and Infinity, which are no JSON numbers
        raise ProtocolError(
            BAD_REQUEST, "request holds NaN or Infinity, which JSON has no numbers for"
        ) from None
    try:  # as JSON, where strict mode takes an array for a pair and a whole number for a float
        return _Envelope.model_validate_json(text).request
    except ValidationError as exc:
        raise ProtocolError(BAD_REQUEST, _explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    """'field: problem' for the first few errors, without pydantic's URLs or the tagged-union tag."""
    parts = []
    for error in exc.errors()[:3]:
        loc = [str(p) for p in error["loc"][1:]]  # drop "request"
        if loc and error["type"] not in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc[1:]  # drop the op tag pydantic inserts
        where = ".".join(loc) or "request"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def decode_json_frame(frame: bytes) -> dict[str, Any]:
    """One JSON object from a frame, or a ProtocolError saying why not."""
    try:
        document = json.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the parser's depth: not ours
        raise ProtocolError(BAD_REQUEST, "request is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise ProtocolError(BAD_REQUEST, f"request must be a JSON object, got {type(document).__name__}")
    return document


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")


def ok_reply(request_id: str | None, **fields: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, **fields}


def error_reply(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": {"code": code, "message": message}}
