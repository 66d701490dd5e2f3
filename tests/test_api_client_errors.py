"""Client mistakes and server errors reach the caller as `ApiError`s with their code: a wrong address
fails at once (it used to hang in close), and an error raised inside a DataLoader worker keeps its
type and code when torch re-raises it in the training loop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from scenesmith.api.client import ApiError, ServerUnavailable, StreamBatch, StreamedSample

CONNECT = """
from scenesmith.api.client import ApiError, Client
try:
    with Client({address!r}, token="t", timeout_s=1, retries=1) as client:
        client.request("ping")
except ApiError as exc:
    print(exc.code, "|", exc)
"""


@pytest.mark.parametrize("address", ["localhost:5555", "tcp://127.0.0.1"])
def test_a_malformed_address_fails_at_once_naming_it(address: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CONNECT.format(address=address)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    code, message = done.stdout.strip().split(" | ", 1)
    assert code == "bad_address" and repr(address) in message and "tcp://127.0.0.1:5555" in message


class _FailingStream(IterableDataset):
    def __init__(self, error: ApiError) -> None:
        self.error = error

    def __iter__(self):  # noqa: ANN204
        yield torch.zeros(1)
        raise self.error


@pytest.mark.parametrize(
    "error",
    [ApiError("job_failed", "job abc failed: out of memory"), ServerUnavailable("unavailable", "gone")],
)
def test_an_error_in_a_dataloader_worker_keeps_its_type_and_code(error: ApiError) -> None:
    loader = DataLoader(_FailingStream(error), batch_size=None, num_workers=1)
    with pytest.raises(type(error)) as raised:
        list(loader)
    assert raised.value.code == error.code and error.message in str(raised.value)


class _FakeClient:
    """Stands in for `Client` in the CLI: a job in `state` with `done` of 10 images finished."""

    def __init__(self, state: str, done: int, interrupt_status: bool = False) -> None:
        self.state, self.done, self.interrupt_status = state, done, interrupt_status
        self.listed_with: int | None = None  # the `limit` that `list` was called with

    def __enter__(self) -> _FakeClient:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def submit(self, *_: object, **__: object) -> str:
        return "a" * 16

    def fetch(self, job: str, out: Path) -> Path:
        self.state = "complete"  # the job completes while its files are copied: the copy is still partial
        return out

    def status(self, job: str) -> dict:
        if self.interrupt_status:
            raise KeyboardInterrupt
        return {"id": job, "state": self.state, "done": self.done, "total": 10}

    def list(self, limit: int) -> list[dict]:
        self.listed_with = limit
        return [self.status(f"{n:016x}") for n in range(min(limit, 3))]


@pytest.mark.parametrize(
    ("state", "done", "code", "says"),
    [
        ("complete", 10, 0, "dataset:"),
        ("running", 4, 1, "is running (4/10): copied the 4+ images finished"),
        ("queued", 0, 1, "no image was finished; fetch again when it is complete"),
        # `resume` re-queues it for its missing images: "it will not grow" sent users to submit again
        ("cancelled", 4, 1, f"`scenesmith resume {'b' * 16}` renders the rest"),
        ("failed", 4, 1, f"`scenesmith resume {'b' * 16}` renders the rest"),
    ],
)
def test_fetch_exits_0_only_for_a_complete_dataset_and_says_what_it_copied(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    state: str,
    done: int,
    code: int,
    says: str,
) -> None:
    from scenesmith.api import cli as api_cli
    from scenesmith.cli import main

    monkeypatch.setattr(api_cli, "_client", lambda args: _FakeClient(state, done))
    with pytest.raises(SystemExit) as exit_info:
        main(["fetch", "b" * 16, "--out", "somewhere"])
    captured = capsys.readouterr()
    assert exit_info.value.code == code and says in captured.out + captured.err


def test_ctrl_c_while_following_a_submit_names_the_queued_job_instead_of_a_rerun(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scenesmith.api import cli as api_cli
    from scenesmith.cli import main

    monkeypatch.setattr(api_cli, "_client", lambda args: _FakeClient("running", 1, interrupt_status=True))
    with pytest.raises(SystemExit) as exit_info:
        main(["submit", "dice_tray", "--count", "10", "--wait"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 130 and f"scenesmith status {'a' * 16}" in err and "rerun" not in err


def test_client_input_slips_are_named_not_sent() -> None:
    """A zero timeout, or overrides, outputs or fields given as one string (split into characters by
    list()), are refused where they are made instead of failing as an unreachable server or a stray
    '--set r'."""
    from scenesmith.api.client import Client
    from scenesmith.errors import UserError

    with pytest.raises(UserError, match="timeout_s: expected seconds > 0"):
        Client("tcp://127.0.0.1:5555", token="t", timeout_s=0)
    with Client("tcp://127.0.0.1:5555", token="t", timeout_s=1, retries=1) as client:
        with pytest.raises(UserError, match="expected a list of 'key.path=value' strings"):
            client.submit("dice_tray", count=1, overrides="render.denoise=false")
        with pytest.raises(UserError, match="outputs: expected a list of output names, got the string"):
            client.submit("dice_tray", count=1, outputs="image,meta")
        with pytest.raises(UserError, match="fields: expected a list of field names, got the string 'image'"):
            client.stream("a" * 16, fields="image")
    from scenesmith.api.streaming import StreamingDataset

    closed = Client("tcp://127.0.0.1:5555", token="t", timeout_s=1, retries=1)
    closed.close()
    with pytest.raises(UserError, match="this client of tcp://127.0.0.1:5555 is closed; make a new Client"):
        closed.status("a" * 16)
    with pytest.raises(UserError, match="fields: expected a list of field names, got the string 'depth'"):
        StreamingDataset("a" * 16, token="t", fields="depth")  # refused here, not in each DataLoader worker


def test_odd_positions_and_waits_are_bad_requests_and_a_huge_number_is_an_invalid_scene() -> None:
    """They used to reach SQLite, the OS or Python's int parser and come back as `internal` errors."""
    from scenesmith.api.protocol import BAD_REQUEST, ProtocolError, parse_request
    from scenesmith.api.streaming import StreamingDataset
    from scenesmith.procedural.loader import SceneRuleError, load_scene_text

    base = {"v": 1, "id": "r", "token": "t", "job": "a" * 16}
    for fields in (
        {"op": "fetch", "path": "manifest.json", "offset": 2**70},
        {"op": "stream", "cursor": 2**63},
    ):
        with pytest.raises(ProtocolError) as raised:
            parse_request({**base, **fields})
        assert raised.value.code == BAD_REQUEST
    with pytest.raises(ValueError, match="wait_s: expected 0 to 30 s"):
        StreamingDataset("a" * 16, token="t", wait_s=60)
    with pytest.raises(SceneRuleError, match="invalid YAML: Exceeds the limit"):
        load_scene_text("name: " + "9" * 5000, (), Path("/tmp"))


def test_a_cancelling_job_has_no_eta(tmp_path: Path) -> None:
    """Its workers finish what they hold and stop: the time to render the rest would be a false promise."""
    from types import SimpleNamespace

    from scenesmith.api.server import Server
    from scenesmith.api.store import JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    spec = {"scene": "dice_tray", "count": 10, "seed": 0, "source": "builtin:dice_tray"}
    job = store.create("a" * 16, "r1", {**spec, "image_format": "png", "outputs": ["image", "meta"]}, 10, 10)
    fake = SimpleNamespace(store=SimpleNamespace(rate=lambda job: 2.0, queue_position=lambda job: None))
    for state, eta in (("running", 5.0), ("cancelling", None)):
        store.set_state(job.id, state)
        assert Server._status(fake, store.get(job.id))["eta_s"] == eta  # type: ignore[arg-type]


def test_status_lists_the_newest_n_jobs_up_to_the_servers_cap_and_says_when_the_list_is_cut(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scenesmith.api import cli as api_cli
    from scenesmith.cli import main

    fake = _FakeClient("complete", 10)
    monkeypatch.setattr(api_cli, "_client", lambda args: fake)
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--limit", "500"])
    assert exit_info.value.code == 0 and fake.listed_with == 500
    assert len(capsys.readouterr().out.splitlines()) == 3
    with pytest.raises(SystemExit):
        main(["status", "--limit", "3"])
    assert "the newest 3 jobs; older ones may exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--limit", "1001"])
    assert exit_info.value.code == 2 and "at most 1000" in capsys.readouterr().err


def test_every_way_to_give_the_token_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scenesmith.api.client import resolve_token
    from scenesmith.cli import main
    from scenesmith.errors import UserError

    monkeypatch.delenv("SCENESMITH_TOKEN", raising=False)
    monkeypatch.delenv("SCENESMITH_TOKEN_FILE", raising=False)
    with pytest.raises(UserError) as missing:
        resolve_token()
    assert "SCENESMITH_TOKEN_FILE" in str(missing.value) and "--token-file" in str(missing.value)
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    assert "SCENESMITH_TOKEN_FILE" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("with_key", [False, True])
def test_no_reply_says_whether_a_curve_key_was_used(monkeypatch: pytest.MonkeyPatch, with_key: bool) -> None:
    """A failed CURVE handshake is silent: a missing or wrong --server-key looks like a dead server."""
    import zmq

    from scenesmith.api.client import Client

    monkeypatch.delenv("SCENESMITH_SERVER_KEY", raising=False)
    key = zmq.curve_keypair()[0].decode() if with_key else None
    with Client("tcp://127.0.0.1:1", token="t", server_key=key, timeout_s=0.2, retries=1) as client:
        with pytest.raises(ServerUnavailable) as raised:
            client.ping()
    message = str(raised.value)
    assert message.startswith("no reply from the scenesmith server at tcp://127.0.0.1:1")
    if with_key:
        assert f"with CURVE server key {key[:8]}" in message and "not the server's public key" in message
    else:
        assert "without a CURVE server key" in message and "--curve-key" in message
        assert "--server-key" in message


def test_a_request_too_large_for_a_server_to_answer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """ZMQ drops a part over 4 × --max-request-bytes without a reply: it looked like a dead server."""
    from scenesmith.api.client import Client
    from scenesmith.errors import UserError

    monkeypatch.delenv("SCENESMITH_SERVER_KEY", raising=False)
    with Client("tcp://127.0.0.1:1", token="t", timeout_s=0.2, retries=1) as client:
        with pytest.raises(
            UserError, match=r"scene_yaml: 300,000 characters, above the 262,144 a server takes"
        ):
            client.submit(scene_yaml="#" * 300_000, count=1)
        with pytest.raises(
            ServerUnavailable, match=r"has a part of 5\.0 MiB, .* drops parts over 4 MiB unanswered"
        ):
            client.request("ping", frames_out=[b"x" * (5 << 20)])
        with pytest.raises(ServerUnavailable) as small:
            client.ping()
    assert "MiB" not in str(small.value)


class _ScriptedStream:
    """Stands in for `Client` in `StreamingDataset`: replies with the given batches, in order."""

    def __init__(self, batches: list[StreamBatch]) -> None:
        self.batches = batches

    def __enter__(self) -> _ScriptedStream:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def stream(self, job: str, cursor: int, **_: object) -> StreamBatch:
        return self.batches.pop(0)


def _stream_with(monkeypatch: pytest.MonkeyPatch, batches: list[StreamBatch]):  # noqa: ANN202
    """A StreamingDataset over scripted replies, on a clock that moves 1000 s per reading."""
    from types import SimpleNamespace

    from scenesmith.api import streaming

    clock = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(streaming, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    monkeypatch.setattr(streaming, "Client", lambda *args, **kwargs: _ScriptedStream(batches))
    return streaming.StreamingDataset("a" * 16, token="t", idle_timeout_s=1500, decode=False)


def test_a_job_waiting_in_the_queue_is_not_timed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job queued behind a long one waits for hours without a sample; that is no stuck job."""
    queued = [StreamBatch([], 0, False, "queued", 0, 1) for _ in range(5)]
    sample = StreamedSample(0, 1, {"image": b"png", "meta": b"{}"})
    done = StreamBatch([sample], 1, True, "complete", 1, 1)
    assert [s["index"] for s in _stream_with(monkeypatch, [*queued, done])] == [0]


def test_an_idle_running_job_times_out_naming_its_state(monkeypatch: pytest.MonkeyPatch) -> None:
    stuck = [StreamBatch([], 3, False, "running", 3, 10) for _ in range(5)]
    with pytest.raises(ApiError) as raised:
        list(_stream_with(monkeypatch, stuck))
    assert raised.value.code == "timeout" and "while it is running (3/10 images)" in raised.value.message


class _EndingJob:
    """`status` replies for a benchmark job, in order."""

    def __init__(self, statuses: list[dict]) -> None:
        self.statuses = statuses

    def status(self, job: str) -> dict:
        return self.statuses.pop(0)


def test_the_api_benchmark_stops_when_its_job_ends_before_the_first_image() -> None:
    """It polled `done < 1` and looped forever when the job failed first (e.g. Blender would not start)."""
    from scenesmith.api.bench import wait_for_first_image

    queued = {"state": "queued", "done": 0, "error": None}
    failed = {"state": "failed", "done": 0, "error": "RenderFailed: worker exited"}
    with pytest.raises(ApiError) as raised:
        wait_for_first_image(_EndingJob([queued, failed]), "a" * 16, poll_s=0)  # type: ignore[arg-type]
    assert raised.value.code == "job_failed"
    assert raised.value.message == (
        f"benchmark job {'a' * 16} ended failed before its first image: RenderFailed: worker exited"
    )
    running = {"state": "running", "done": 1, "error": None}
    wait_for_first_image(_EndingJob([queued, running]), "a" * 16, poll_s=0)  # type: ignore[arg-type]


def test_a_mistyped_job_id_is_refused_before_anything_is_sent(capsys) -> None:
    from scenesmith.cli import build_parser

    for command in (["status"], ["cancel"], ["resume"], ["fetch", "--out", "x"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*command[:1], "nosuchjob", *command[1:]])
        assert "expected a job id: 16 hex digits" in capsys.readouterr().err


def test_a_submitted_scene_files_errors_name_the_file_not_the_request(tmp_path, monkeypatch, capsys) -> None:
    """The server only sees text; what the user gave was a file."""
    import contextlib

    from scenesmith.api import cli as api_cli
    from scenesmith.cli import main

    class Refusing:
        def submit(self, *_: object, **__: object) -> str:
            raise ApiError("invalid_scene", "request: invalid YAML at line 4, column 1")

    monkeypatch.setattr(api_cli, "_client", lambda args: contextlib.nullcontext(Refusing()))
    scene = tmp_path / "syn.yaml"
    scene.write_text("extends: dice_tray\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["submit", str(scene), "--count", "1"])
    assert exit_info.value.code == 2
    assert f"{scene}: invalid YAML at line 4" in capsys.readouterr().err


class _ShardedJob:
    """Stands in for `Client`: a finished 23-image job, answering each stream with its shard's part."""

    def __init__(self, *_: object, **__: object) -> None:
        pass

    def __enter__(self) -> _ShardedJob:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def stream(self, job: str, cursor: int, shard: tuple[int, int], **_: object) -> StreamBatch:
        k, n = shard
        mine = [StreamedSample(i, i + 1, {"meta": b"{}"}) for i in range(23) if i % n == k]
        return StreamBatch(mine, 23, True, "complete", 23, 23)


def test_distributed_ranks_and_their_workers_share_a_job_each_sample_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every DDP process got the whole job, since shards knew only DataLoader workers: each sample was
    trained on once per GPU per epoch."""
    from types import SimpleNamespace

    from scenesmith.api import streaming

    monkeypatch.setattr(streaming, "Client", _ShardedJob)
    seen: list[int] = []
    for rank in range(3):
        dataset = streaming.StreamingDataset("a" * 16, token="t", decode=False, rank=rank, world_size=3)
        for worker in range(2):
            monkeypatch.setattr(
                streaming, "get_worker_info", lambda w=worker: SimpleNamespace(id=w, num_workers=2)
            )
            seen += [sample["index"] for sample in dataset]
    assert sorted(seen) == list(range(23))


def test_the_distributed_place_comes_from_torch_distributed_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scenesmith.api import streaming

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 2)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 4)
    dataset = streaming.StreamingDataset("a" * 16, token="t")
    assert (dataset.rank, dataset.world_size) == (2, 4)
    with pytest.raises(ValueError, match="give both, or neither"):
        streaming.StreamingDataset("a" * 16, token="t", rank=1)
    with pytest.raises(ValueError, match="rank: expected 0 to world_size - 1 = 1, got 2"):
        streaming.StreamingDataset("a" * 16, token="t", rank=2, world_size=2)


def test_more_parts_than_a_server_streams_are_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """128 ranks × 16 workers: every worker's first request was refused with a schema error."""
    from types import SimpleNamespace

    from scenesmith.api import streaming

    monkeypatch.setattr(streaming, "Client", _ShardedJob)
    monkeypatch.setattr(streaming, "get_worker_info", lambda: SimpleNamespace(id=0, num_workers=16))
    dataset = streaming.StreamingDataset("a" * 16, token="t", rank=0, world_size=128)
    with pytest.raises(ValueError, match="128 ranks × 16 DataLoader workers split the job into 2048 parts"):
        next(iter(dataset))
