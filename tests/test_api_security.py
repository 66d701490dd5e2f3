"""API security: tokens, malformed/oversized/path-traversal requests, caps, CURVE — the server stays up.

The server runs as a real subprocess on a random loopback port with its own data root and token.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trimesh
import zmq

from scenesmith.api import ApiError, ServerUnavailable
from scenesmith.api.protocol import ProtocolError, parse_request
from scenesmith.api.security import hide_server_paths, is_loopback, safe_relative_path, token_matches
from scenesmith.api.testing import ServerProcess
from scenesmith.procedural.composition import builtin_dir
from scenesmith.procedural.loader import SceneRuleError, load_scene, load_scene_text

TINY = ["render.denoise=false"]
MESH = "extends: dice_tray\nobjects: {{dice: {{generator: mesh_file, params: {{path: {path}}}}}}}"
BILLION_LAUGHS = "\n".join(
    ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
)


# ------------------------------------------------------------------ no server needed
def test_scene_text_is_confined_to_the_root_and_data_only(tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    (root / "parts").mkdir(parents=True)
    (tmp_path / "secret.yaml").write_text("camera: {height_m: 1}\n")
    (root / "parts" / "few.yaml").write_text("objects: {dice: {count: 2}}\n")
    (root / "escape.yaml").symlink_to(tmp_path / "secret.yaml")

    loaded = load_scene_text("extends: dice_tray\ninclude: parts/few.yaml\n", [], root)
    assert loaded.rules.name == "dice_tray"
    bad = {
        "extends: ../secret.yaml": "without '..'",
        f"extends: {tmp_path / 'secret.yaml'}": "without '..'",
        "extends: escape.yaml": "outside the scene root",
        "camera: {include: '../secret.yaml#camera'}": "without '..'",
        MESH.format(path="../x.stl"): "outside the data root",
        MESH.format(path="/etc/x.stl"): "outside the data root",
        BILLION_LAUGHS: "YAML aliases|expands to more than",
        "a: &a [*a]": "recursive YAML alias",
        "!!python/object/apply:os.system ['true']": "could not determine a constructor",
        "[" * 3000 + "]" * 3000: "nested",
    }
    for text, expected in bad.items():
        with pytest.raises(SceneRuleError, match=expected) as raised:
            load_scene_text(text, [], root)
        assert str(raised.value).count("request:") == 1  # said once, not wrapped again
    # 50 aliases (under the alias cap) that would expand to a million nodes
    levels = ["&a [" + ", ".join(["1"] * 10) + "]"]
    levels += [f"&{c} [{', '.join([f'*{p}'] * 10)}]" for p, c in zip("abcd", "bcde", strict=True)]
    laughs = f"[{', '.join(levels)}, [{', '.join(['*e'] * 10)}]]"
    with pytest.raises(SceneRuleError, match="expands to more than"):
        load_scene_text("extends: dice_tray", [f"camera.height_m={laughs}"], root)


def blocks_group(path: str) -> str:
    """A `mesh_file` object group (a YAML flow mapping) whose mesh is `path`."""
    return (
        f"{{generator: mesh_file, count: 1, params: {{path: {path}, scale: 0.001, rest: upright}}, "
        "palette: [{materials: {body: {color: '#3050c0'}}}], placement: {method: pack, support: [table]}}"
    )


def blocks_scene(path: str) -> str:
    return f"extends: dice_tray\nobjects: {{blocks: {blocks_group(path)}}}\n"


def _mesh_project(tmp_path: Path) -> Path:
    """DATA_ROOT/scenes (returned) with meshes/box.stl and parts/meshes/box.stl, and a secret mesh
    outside it, tmp_path/secret.stl."""
    root = tmp_path / "scenes"
    for folder in (root / "meshes", root / "parts" / "meshes", root / "variants"):
        folder.mkdir(parents=True)
    for mesh in (root / "meshes" / "box.stl", root / "parts" / "meshes" / "box.stl", tmp_path / "secret.stl"):
        trimesh.creation.box((10, 10, 10)).export(mesh)
    return root


def test_a_mesh_path_that_is_not_text_is_refused_under_confinement(tmp_path: Path) -> None:
    """YAML `!!binary` bytes under `path` passed the confinement check (text only) and became a path
    in the schema's lax mode: a request could have the server open any mesh file it can read."""
    root = _mesh_project(tmp_path)
    secret = base64.b64encode(str(tmp_path / "secret.stl").encode()).decode()
    expected = "objects.blocks.params.path: expected a file path as text, got bytes"
    with pytest.raises(SceneRuleError, match=f"^request: {expected}$"):
        load_scene_text(blocks_scene(f"!!binary {secret}"), [], root)
    with pytest.raises(SceneRuleError, match=f"^request: {expected}$"):
        load_scene_text(
            blocks_scene("meshes/box.stl"), [f"objects.blocks.params.path=!!binary {secret}"], root
        )
    (root / "variants" / "x.yaml").write_text(blocks_scene(f"!!binary {secret}"))
    with pytest.raises(SceneRuleError, match=f"variants/x.yaml: {expected}$"):
        load_scene_text("extends: variants/x.yaml\n", [], root)


def test_confined_mesh_paths_start_from_the_file_that_writes_them(tmp_path: Path) -> None:
    """As on the command line: a part in a subfolder names its meshes from its own folder, and `..`
    may climb while the file stays below the root; leaving the root is refused, naming the file."""
    root = _mesh_project(tmp_path)
    (root / "parts" / "blocks.yaml").write_text(f"blocks: {blocks_group('meshes/box.stl')}\n")
    (root / "variants" / "x.yaml").write_text(blocks_scene("../meshes/box.stl"))
    text = "extends: dice_tray\nobjects: {include: parts/blocks.yaml}\n"
    part = load_scene_text(text, [], root)
    assert Path(part.rules.objects["blocks"].params.path) == root / "parts" / "meshes" / "box.stl"
    climbed = load_scene_text("extends: variants/x.yaml\n", [], root)
    assert Path(climbed.rules.objects["blocks"].params.path) == root / "meshes" / "box.stl"
    # The request's own text, and a path an override gives, start from the root.
    assert load_scene_text(blocks_scene("meshes/box.stl"), [], root).rules_hash == climbed.rules_hash
    override = load_scene_text(text, ["objects.blocks.params.path=meshes/box.stl"], root)
    assert Path(override.rules.objects["blocks"].params.path) == root / "meshes" / "box.stl"
    (root / "meshes" / "link.stl").symlink_to(tmp_path / "secret.stl")
    for path in ("../../secret.stl", str(tmp_path / "secret.stl"), "../meshes/link.stl"):
        (root / "variants" / "x.yaml").write_text(blocks_scene(path))
        with pytest.raises(
            SceneRuleError, match=r"variants/x.yaml: objects.blocks.params.path: path .* outside"
        ):
            load_scene_text("extends: variants/x.yaml\n", [], root)
    with pytest.raises(
        SceneRuleError, match=r"^request: objects.blocks.params.path: path '../secret.stl' lies"
    ):
        load_scene_text(text, ["objects.blocks.params.path=../secret.stl"], root)


def test_load_scene_is_unchanged_and_matches_the_confined_loader(tmp_path: Path) -> None:
    text = (builtin_dir() / "dice_tray.yaml").read_text()
    confined = load_scene_text(text, TINY, tmp_path, "builtin:dice_tray", builtin_dir())
    assert confined.rules_hash == load_scene("dice_tray", TINY).rules_hash


def test_protocol_and_path_helpers() -> None:
    good = {"v": 1, "id": "r1", "token": "t", "op": "status", "job": "0123456789abcdef"}
    assert parse_request(good).job == "0123456789abcdef"  # type: ignore[attr-defined]
    for change, code in [
        ({"v": 2}, "unsupported_version"),
        ({"op": "format_disk"}, "bad_request"),
        ({"job": "../../etc"}, "bad_request"),
        ({"extra": 1}, "bad_request"),
        # Taken as JSON typed them (PROTOCOL.md: a typo never passes silently); these were coerced.
        ({"v": True}, "unsupported_version"),
        ({"v": 1.0}, "unsupported_version"),
        ({"op": "stream", "cursor": True}, "bad_request"),
        ({"op": "stream", "shard": [0, "2"]}, "bad_request"),
        ({"op": "stream", "wait_s": float("nan")}, "bad_request"),  # Python's json reads NaN
    ]:
        with pytest.raises(ProtocolError) as info:
            parse_request({**good, **change})
        assert info.value.code == code, change
    stream = parse_request({**good, "op": "stream", "shard": [1, 2], "wait_s": 5})  # a pair, a whole float
    assert stream.shard == (1, 2) and stream.wait_s == 5.0  # type: ignore[attr-defined]
    assert safe_relative_path("images/000001.png") is not None
    for path in ["../token", "/etc/passwd", "images/../../x", "a//b", "", "a\\b", "./x"]:
        assert safe_relative_path(path) is None, path
    assert (
        is_loopback("tcp://127.0.0.1:5555") and is_loopback("tcp://[::1]:1") and is_loopback("ipc:///tmp/x")
    )
    assert not is_loopback("tcp://0.0.0.0:5555") and not is_loopback("tcp://*:5555")
    assert token_matches("secret-token", "secret-token") and not token_matches("secret-tokeN", "secret-token")
    assert not token_matches(None, "secret-token")


def test_a_token_utf8_cannot_encode_is_unauthorized_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """JSON's "\\ud800" decodes to a lone surrogate. Encoding it raised, so every such request, sent
    without any token at all, was answered `internal` and logged a full traceback (log flooding)."""
    from types import SimpleNamespace

    from scenesmith.api.jobs import Limits
    from scenesmith.api.server import Server

    assert not token_matches("\ud800", "secret-token")
    replies: list[dict] = []
    server = SimpleNamespace(
        limits=Limits(),
        token="secret-token-0123456789",
        data_root=Path("/srv/scenesmith"),
        _send=lambda envelope, reply, frames=(): replies.append(reply),
        _dispatch=lambda envelope, request: pytest.fail("an unauthorized request was dispatched"),
    )
    server._send_error = functools.partial(Server._send_error, server)
    frame = b'{"v": 1, "id": "surrogate-1", "token": "\\ud800", "op": "list"}'
    with caplog.at_level("DEBUG", logger="scenesmith.api.server"):
        Server._handle(server, [b"peer", b"", frame])  # type: ignore[arg-type]
    assert [r["error"]["code"] for r in replies] == ["unauthorized"] and replies[0]["id"] == "surrogate-1"
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]


# ------------------------------------------------------------------------ a live server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("api_security") / "root"
    extra = [
        "--max-count",
        "20",
        "--max-resolution",
        "64",
        "--max-samples",
        "4",
        "--max-request-bytes",
        "100000",
    ]
    with ServerProcess(root, extra=extra) as process:
        yield process


def raw(server: ServerProcess, frames: list[bytes], timeout_ms: int = 10_000) -> dict | None:
    """Send raw frames on a fresh DEALER (with the empty delimiter); the reply header, or None."""
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(server.endpoint)
    try:
        socket.send_multipart([b"", *frames])
        if not socket.poll(timeout_ms):
            return None
        return json.loads(socket.recv_multipart()[1])
    finally:
        socket.close()


def request(server: ServerProcess, **fields: object) -> dict:
    document = {"v": 1, "id": f"t-{secrets.token_hex(6)}", "token": server.token_file.read_text().strip()}
    document.update(fields)
    reply = raw(server, [json.dumps(document).encode()])
    assert reply is not None
    return reply


def error_code(reply: dict | None) -> str | None:
    assert reply is not None, "no reply"
    return None if reply["ok"] else reply["error"]["code"]


def test_every_sample_file_name_is_recognised_for_fetch_past_a_million_images() -> None:
    from scenesmith.annotate.dataset_writer import sample_files
    from scenesmith.api.server import _SAMPLE_PATH

    for index in (0, 999_999, 1_000_000, 12_345_678):
        for name in sample_files(index, "png").values():
            match = _SAMPLE_PATH.fullmatch(name)
            assert match is not None and int(match.group(2)) == index, name


def test_requests_without_the_right_token_are_refused(server: ServerProcess) -> None:
    base = {"v": 1, "id": "x", "op": "list"}
    for token in [None, "", "wrong-token-0123456789", 12345]:
        document = dict(base) if token is None else {**base, "token": token}
        reply = raw(server, [json.dumps(document).encode()])
        assert error_code(reply) == "unauthorized" and "token" in reply["error"]["message"]
    with server.client() as client:
        assert client.ping() == {"version": "0.1.0", "protocol": 1, "runner_alive": True}


def test_a_retried_submit_creates_one_job(server: ServerProcess) -> None:
    first = request(
        server, op="submit", scene="dice_tray", count=1, resolution=[32, 32], samples=1, id="dup-1"
    )
    again = request(
        server, op="submit", scene="dice_tray", count=1, resolution=[32, 32], samples=1, id="dup-1"
    )
    assert first["ok"] and again["ok"] and first["job"]["id"] == again["job"]["id"]
    other = request(
        server, op="submit", scene="dice_tray", count=2, resolution=[32, 32], samples=1, id="dup-1"
    )
    assert error_code(other) == "bad_request" and first["job"]["id"] in other["error"]["message"]
    assert request(server, op="cancel", job=first["job"]["id"])["ok"]


def test_malformed_requests_get_error_replies(server: ServerProcess) -> None:
    token = server.token_file.read_text().strip()
    cases = {
        b"not json": "bad_request",
        b"\xff\xfe\x00": "bad_request",
        b"[1, 2]": "bad_request",
        b"": "bad_request",
        # 10 KB, no token: nested past the parser's depth, it was answered `internal` with a logged traceback
        b"[" * 5_000 + b"]" * 5_000: "bad_request",
        json.dumps({"v": 1, "id": "a", "token": token, "op": "nope"}).encode(): "bad_request",
        json.dumps(
            {"v": 1, "id": "a", "token": token, "op": "submit", "count": "many"}
        ).encode(): "bad_request",
        json.dumps({"v": 1, "id": "a", "token": token, "op": "list", "limit": 10**9}).encode(): "bad_request",
        json.dumps({"v": 9, "id": "a", "token": token, "op": "list"}).encode(): "unsupported_version",
    }
    for frame, code in cases.items():
        assert error_code(raw(server, [frame])) == code, frame
    two_frames = raw(server, [json.dumps({"v": 1, "id": "a", "token": token, "op": "list"}).encode(), b"x"])
    assert error_code(two_frames) == "bad_request"
    reply = request(server, op="submit", scene="dice_tray", count=1, bogus=True)
    assert error_code(reply) == "bad_request" and "bogus" in reply["error"]["message"]
    assert error_code(request(server, op="status", job="0123456789abcdef")) == "not_found"
    assert error_code(request(server, op="list")) is None


def test_oversized_requests_are_refused_and_the_server_stays_up(server: ServerProcess) -> None:
    token = server.token_file.read_text().strip()
    big = json.dumps({"v": 1, "id": "a", "token": token, "op": "list", "pad": "x" * 200_000}).encode()
    reply = raw(server, [big])
    assert error_code(reply) == "too_large"
    # Beyond ZMQ_MAXMSGSIZE (4 × the limit) ZMQ drops the message and the connection: no reply at all.
    assert raw(server, [b"x" * 1_000_000], timeout_ms=2000) is None
    assert error_code(request(server, op="list")) is None


def test_caps_invalid_scenes_and_scene_path_traversal(server: ServerProcess) -> None:
    def submit(**fields: object) -> dict:
        return request(server, op="submit", **{"count": 1, "overrides": TINY, **fields})

    assert error_code(submit(scene="dice_tray", count=21)) == "over_limit"
    assert error_code(submit(scene="dice_tray", resolution=[128, 32])) == "over_limit"
    assert error_code(
        submit(scene_yaml="extends: dice_tray\nrender: {resolution: [32, 32], samples: 64}\n")
    ) == ("over_limit")
    reply = submit(scene="dice_tray", resolution=[32, 32], samples=1, overrides=["camera.bogus_key=1"])
    assert error_code(reply) == "invalid_scene" and "camera" in reply["error"]["message"]
    assert error_code(submit(scene="no_such_scene")) == "invalid_scene"
    assert error_code(submit(scene="../token")) == "bad_request"
    for text in ["extends: ../token", "extends: ../jobs.sqlite", "include: /etc/passwd", BILLION_LAUGHS]:
        assert error_code(submit(scene_yaml=text)) == "invalid_scene", text


def test_error_replies_name_data_root_files_relative_to_it(server: ServerProcess) -> None:
    (server.data_root / "scenes" / "broken_base.yaml").write_text("name: x\nobjects: [\n")
    root = str(server.data_root.resolve())
    for text, named in [
        ("extends: broken_base.yaml\n", "scenes/broken_base.yaml: invalid YAML"),
        ("extends: nowhere.yaml\n", "looked in scenes and the built-in scenes"),
    ]:
        reply = request(server, op="submit", count=1, scene_yaml=text)
        assert error_code(reply) == "invalid_scene"
        assert named in reply["error"]["message"] and root not in reply["error"]["message"]


def test_hidden_server_paths_keep_other_paths_and_what_follows(tmp_path: Path) -> None:
    root = tmp_path / "data"
    message = f"{root}/jobs/j1/dataset/meta/000001.json: damaged; {root}2/x; {builtin_dir()}/dice_tray.yaml"
    assert hide_server_paths(message, root) == (
        f"jobs/j1/dataset/meta/000001.json: damaged; {root}2/x; builtin:dice_tray.yaml"
    )


def test_fetch_serves_only_listed_dataset_files(server: ServerProcess) -> None:
    with server.client() as client:
        job = client.submit("dice_tray", count=1, resolution=(32, 32), samples=1, overrides=TINY)
        assert client.wait(job, timeout_s=600)["state"] == "complete"
        listed = {f["path"] for f in client.files(job)}
        assert {"images/000000.png", "meta/000000.json", "annotations.json", "manifest.json"} <= listed
        reply, frames = client.request("fetch", job=job, path="images/000000.png")
        assert frames[0][:8] == b"\x89PNG\r\n\x1a\n" and reply["eof"]
        for path, code in [
            ("../../token", "bad_request"),
            ("/etc/passwd", "bad_request"),
            ("images/../../../token", "bad_request"),
            ("../request.json", "bad_request"),
            ("images/000001.png", "not_found"),  # not a sample of this job
            ("stats/stats.json", "not_found"),  # in no dataset listing
        ]:
            with pytest.raises(ApiError) as info:
                client.request("fetch", job=job, path=path)
            assert info.value.code == code, path
        with pytest.raises(ApiError) as info:
            client.request("fetch", job="../../../etc/xx", path="manifest.json")
        assert info.value.code == "bad_request"
        assert client.ping()["protocol"] == 1
    assert server.process is not None and server.process.poll() is None


def test_a_finished_job_is_deleted_with_its_dataset_and_an_active_one_is_not(server: ServerProcess) -> None:
    """Without `delete` a server taking jobs day after day filled its disk: a folder removed by hand
    left a job the server still listed, whose files it could no longer serve."""
    with server.client() as client:
        done = client.submit("dice_tray", count=1, resolution=(32, 32), samples=1, overrides=TINY)
        assert client.wait(done, timeout_s=600)["state"] == "complete"
        busy = client.submit("dice_tray", count=20, resolution=(32, 32), samples=1, overrides=TINY)
        assert (server.data_root / "jobs" / done / "dataset" / "manifest.json").is_file()
        assert client.delete(done) == {"id": done, "state": "deleted"}
        assert not (server.data_root / "jobs" / done).exists()
        for ask in (client.status, client.files, client.delete):
            with pytest.raises(ApiError) as gone:
                ask(done)
            assert gone.value.code == "not_found"
        assert done not in [job["id"] for job in client.list()]
        with pytest.raises(ApiError, match="cancel it, and delete it once it is cancelled") as active:
            client.delete(busy)
        assert active.value.code == "bad_request" and client.status(busy)["state"] in ("queued", "running")
        client.cancel(busy)
        assert client.wait(busy, timeout_s=600)["state"] == "cancelled"
        client.delete(busy)
        ours = [
            server.data_root / "jobs" / f"{prefix}{job}"
            for job in (done, busy)
            for prefix in ("", ".deleted-")
        ]
        deadline = time.monotonic() + 60
        while any(path.exists() for path in ours) and time.monotonic() < deadline:
            time.sleep(0.1)  # the renamed folders are removed in the background
        assert not any(path.exists() for path in ours)


def test_curve_server_needs_the_key_and_non_loopback_needs_curve(tmp_path: Path) -> None:
    # Off loopback without a CURVE key the server refuses to start (exit 2, one line).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scenesmith",
            "serve",
            "--bind",
            "tcp://0.0.0.0:0",
            "--data-root",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "CURVE" in result.stderr and "Traceback" not in result.stderr
    key = tmp_path / "server.key"
    with ServerProcess(tmp_path / "curve", extra=["--curve-key", str(key)]) as curve:
        public = Path(f"{key}.pub").read_text().strip()
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        with curve.client(server_key=public) as client:
            assert client.ping()["protocol"] == 1
        started = time.monotonic()
        with curve.client(timeout_s=1.0, retries=1) as plain, pytest.raises(ServerUnavailable):
            plain.ping()  # no CURVE handshake: the server never sees the request
        assert time.monotonic() - started < 30
        with curve.client(server_key=public) as client:
            assert client.ping()["protocol"] == 1
    assert os.path.exists(key)
