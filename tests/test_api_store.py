"""The job store's submit rules: a retry keeps its job, the cap on active jobs cannot be overshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenesmith.api.jobs import same_submission
from scenesmith.api.store import JobStore, QueueFull

SPEC = {"scene": "dice_tray", "scene_text": "extends: base\n", "count": 2, "seed": 0}


def test_a_retry_gets_its_job_back_even_when_the_queue_is_full(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    first = store.create("a" * 16, "req-1", SPEC, 2, max_active=1)
    assert store.create("b" * 16, "req-1", SPEC, 2, max_active=1).id == first.id
    with pytest.raises(QueueFull, match="1 jobs are already queued or running"):
        store.create("c" * 16, "req-2", SPEC, 2, max_active=1)
    assert [job.id for job in store.list()] == [first.id]


def test_finished_jobs_free_their_place_under_the_cap(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create("a" * 16, "req-1", SPEC, 2, max_active=1)
    store.set_state("a" * 16, "complete")
    assert store.create("b" * 16, "req-2", SPEC, 2, max_active=1).state == "queued"


def test_a_retry_is_the_same_submission_even_after_its_scene_file_changed() -> None:
    assert same_submission(SPEC, {**SPEC, "scene_text": "extends: base\nname: edited\n"})
    assert not same_submission(SPEC, {**SPEC, "count": 3})
    assert not same_submission(SPEC, {**SPEC, "scene": "retail_shelf"})


def test_other_scene_yaml_under_a_used_id_is_another_submission() -> None:
    """Text sent in the request is the request: other rules under a used id must not get the old job."""
    sent = {**SPEC, "scene": None, "source": "request"}
    assert same_submission(sent, dict(sent))
    assert not same_submission(sent, {**sent, "scene_text": "extends: base\nname: other\n"})


def test_the_server_refuses_other_scene_yaml_under_a_used_id_and_keeps_a_retry(tmp_path: Path) -> None:
    """The submit path the request loop runs (scene check, store, comparison), without a socket."""
    from types import SimpleNamespace

    from scenesmith.api.jobs import Limits
    from scenesmith.api.protocol import BAD_REQUEST, ProtocolError, parse_request
    from scenesmith.api.server import Server

    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes/mine.yaml").write_text("extends: dice_tray\n")
    server = SimpleNamespace(
        data_root=tmp_path,
        limits=Limits(),
        store=JobStore(tmp_path / "jobs.sqlite"),
        runner=SimpleNamespace(wake=lambda: None),
        _status=lambda job: {"id": job.id},
        _check_retry=Server._check_retry,
    )

    def submit(request_id: str, **scene: str) -> str:
        fields = {"v": 1, "id": request_id, "token": "t", "op": "submit", "count": 1, **scene}
        return Server._check_and_create(server, parse_request(fields))["id"]  # type: ignore[arg-type]

    job = submit("yaml-1", scene_yaml="extends: dice_tray\n")
    assert submit("yaml-1", scene_yaml="extends: dice_tray\n") == job
    with pytest.raises(ProtocolError) as refused:
        submit("yaml-1", scene_yaml="extends: dice_tray\nobjects: {dice: {count: 2}}\n")
    assert refused.value.code == BAD_REQUEST and job in refused.value.message
    named = submit("name-1", scene="mine")
    (tmp_path / "scenes/mine.yaml").write_text("extends: dice_tray\nobjects: {dice: {count: 2}}\n")
    assert submit("name-1", scene="mine") == named  # a retry keeps its job after the file was edited
    # ... after it was edited into rules that no longer load, or removed, or the caps were lowered:
    # the retry's first try was accepted, only its reply was lost.
    (tmp_path / "scenes/mine.yaml").write_text("extends: dice_tray\nobjects: {dice: {count: -1}}\n")
    assert submit("name-1", scene="mine") == named
    (tmp_path / "scenes/mine.yaml").unlink()
    assert submit("name-1", scene="mine") == named
    builtin = submit("name-2", scene="dice_tray")
    (tmp_path / "scenes/dice_tray.yaml").write_text("extends: dice_tray\n")  # now shadows the built-in
    server.limits = Limits(max_count=1, max_active_jobs=0)  # a full queue, restarted with lower caps
    assert submit("name-2", scene="dice_tray") == builtin


class _NoWorkers:
    """A stand-in for the render pool: the fake pipeline below renders nothing."""

    def __enter__(self) -> _NoWorkers:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def worker_pids(self) -> list[int]:
        return []


def _run_until_over(runner, store: JobStore, job_id: str) -> None:  # noqa: ANN001 - a JobRunner
    """Run `runner` until the job has failed or completed (20 s at most), then shut it down."""
    runner.start()
    try:
        for _ in range(400):
            if store.get(job_id).state in ("failed", "complete"):  # type: ignore[union-attr]
                break
            runner.join(0.05)
    finally:
        runner.shutdown(timeout=10)


def test_a_job_whose_folder_cannot_be_made_fails_and_the_next_job_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scenesmith.pipeline
    from scenesmith.api.jobs import job_dir
    from scenesmith.api.runner import JobRunner

    def fake_generate_dataset(count: int, on_sample, **_: object) -> None:  # noqa: ANN001
        for index in range(count):
            on_sample(index)

    monkeypatch.setattr(scenesmith.pipeline, "generate_dataset", fake_generate_dataset)
    store = JobStore(tmp_path / "jobs.sqlite")
    broken, fine = "a" * 16, "b" * 16
    spec = {**SPEC, "source": "builtin:dice_tray", "base": "builtin", "image_format": "png", "overrides": []}
    store.create(broken, "req-1", spec, 2, max_active=10)
    store.create(fine, "req-2", spec, 2, max_active=10)
    job_dir(tmp_path, broken).parent.mkdir(parents=True)
    job_dir(tmp_path, broken).write_text("a file where the job's folder should be")
    runner = JobRunner(store, tmp_path, pool_factory=_NoWorkers)
    runner.start()
    try:
        for _ in range(200):
            if store.get(fine).state == "complete":  # type: ignore[union-attr]
                break
            runner.join(0.05)
        assert runner.is_alive()
    finally:
        runner.shutdown(timeout=10)
    failed = store.get(broken)
    assert failed is not None and failed.state == "failed" and "FileExistsError" in (failed.error or "")
    assert store.get(fine).state == "complete" and store.get(fine).done == 2  # type: ignore[union-attr]


def test_a_scene_file_that_is_not_utf8_is_an_invalid_scene_naming_the_file(tmp_path: Path) -> None:
    from scenesmith.api.jobs import make_spec
    from scenesmith.api.protocol import parse_request
    from scenesmith.procedural.loader import SceneRuleError

    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes/latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    request = parse_request({"v": 1, "id": "r1", "token": "t", "op": "submit", "scene": "latin1", "count": 1})
    with pytest.raises(SceneRuleError, match=r"scenes/latin1.yaml: not readable as UTF-8 text"):
        make_spec(request, tmp_path)  # type: ignore[arg-type]


def test_a_scene_file_edited_after_submit_cannot_lift_the_caps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frozen request text extends a data-root file; raising its samples after the submit was
    checked must not reach the renderer: the runner loads through the same caps."""
    import scenesmith.pipeline
    from scenesmith.api.jobs import Limits, check_spec, make_spec
    from scenesmith.api.protocol import parse_request
    from scenesmith.api.runner import JobRunner

    def fake_generate_dataset(count: int, on_sample, load, overrides, **_: object) -> None:  # noqa: ANN001
        load("", overrides)  # as generate_dataset does before it renders anything
        for index in range(count):
            on_sample(index)

    monkeypatch.setattr(scenesmith.pipeline, "generate_dataset", fake_generate_dataset)
    (tmp_path / "scenes").mkdir()
    part = tmp_path / "scenes/part.yaml"
    part.write_text("extends: dice_tray\nrender: {samples: 4, resolution: [64, 64]}\n")
    fields = {
        "v": 1,
        "id": "r1",
        "token": "t",
        "op": "submit",
        "scene_yaml": "extends: part.yaml\n",
        "count": 1,
    }
    spec = make_spec(parse_request(fields), tmp_path)  # type: ignore[arg-type]
    limits = Limits(max_samples=64)
    check_spec(spec, tmp_path, limits)  # accepted as submitted
    part.write_text("extends: dice_tray\nrender: {samples: 5000, resolution: [64, 64]}\n")
    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create("c" * 16, "r1", spec, 1, max_active=10)
    _run_until_over(JobRunner(store, tmp_path, pool_factory=_NoWorkers, limits=limits), store, job.id)
    failed = store.get(job.id)
    assert failed is not None and failed.state == "failed"
    assert failed.error == "over_limit: samples 5000 exceed this server's cap of 64"


def test_a_job_that_cannot_resume_into_its_folder_says_why_in_the_servers_terms(tmp_path: Path) -> None:
    """A job interrupted before an upgrade finds a dataset of the old version in its folder: it fails
    naming what changed and what the owner can do, not the CLI's "choose another --out"."""
    import json

    from scenesmith.api.jobs import dataset_dir
    from scenesmith.api.runner import JobRunner

    store = JobStore(tmp_path / "jobs.sqlite")
    spec = {**SPEC, "scene_text": "extends: dice_tray\n", "source": "builtin:dice_tray", "base": "builtin"}
    spec = {**spec, "image_format": "png", "overrides": []}
    job = store.create("d" * 16, "r1", spec, 2, max_active=10)
    out = dataset_dir(tmp_path, job.id)
    out.mkdir(parents=True)
    identity = {"scenesmith_version": "0.0.1", "dataset_key": "made-by-an-older-server"}
    (out / "manifest.json").write_text(json.dumps({"identity": identity, "count": 2}))
    (out / "meta").mkdir()
    (out / "meta" / "000000.json").write_text("{}")  # an image the old server finished
    _run_until_over(JobRunner(store, tmp_path, pool_factory=_NoWorkers), store, job.id)
    failed = store.get(job.id)
    assert failed is not None and failed.state == "failed", failed
    assert "cannot resume" in (failed.error or "") and "--out" not in (failed.error or "")
    assert "scenesmith_version" in (failed.error or "") and "submit the job again" in (failed.error or "")


def test_a_job_resumed_on_another_renderer_says_why_in_the_servers_terms(tmp_path: Path) -> None:
    """A server restarted on a GPU finds its job's CPU images: the pipeline's refusal is a dataset
    mismatch the runner words for the job's owner, not the CLI's "--device" or "--out"."""
    from scenesmith.api.runner import _unresumable
    from scenesmith.errors import DatasetMismatch
    from scenesmith.pipeline import _check_same_renderer

    cpu = {"device": {"device": "CPU", "backend": None}, "denoise": True, "denoiser": "OPENIMAGEDENOISE"}
    gpu = {"device": {"device": "GPU", "backend": "OPTIX"}, "denoise": True, "denoiser": "OPTIX"}
    _check_same_renderer(tmp_path, cpu, dict(cpu))
    with pytest.raises(DatasetMismatch) as refused:
        _check_same_renderer(tmp_path, cpu, gpu)
    message = _unresumable(refused.value, 7)
    assert "differs in: renderer" in message and "--" not in message and "operator" in message


def test_a_failed_job_resumes_its_dataset_at_the_back_of_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that failed at image 1 of 3 (a full disk) is resumed, not resubmitted: queued again behind
    the others, it renders only the images it is missing, and its log keeps the finished one."""
    from types import SimpleNamespace

    import scenesmith.pipeline
    from scenesmith.api.protocol import BAD_REQUEST, OVER_LIMIT, ProtocolError, parse_request
    from scenesmith.api.runner import JobRunner
    from scenesmith.api.server import Server

    asked: list[list[int]] = []

    def fake_generate_dataset(count: int, on_sample, out_dir: Path, **_: object) -> None:  # noqa: ANN001
        done = {int(p.stem) for p in out_dir.glob("*.done")}
        asked.append(sorted(set(range(count)) - done))
        out_dir.mkdir(parents=True, exist_ok=True)
        for index in asked[-1]:
            if len(asked) == 1 and index == 1:
                raise OSError(28, "No space left on device")
            (out_dir / f"{index}.done").touch()
            on_sample(index)

    monkeypatch.setattr(scenesmith.pipeline, "generate_dataset", fake_generate_dataset)
    store = JobStore(tmp_path / "jobs.sqlite")
    spec = {**SPEC, "source": "builtin:dice_tray", "base": "builtin", "image_format": "png", "overrides": []}
    job = store.create("e" * 16, "req-1", spec, 3, max_active=2).id
    _run_until_over(JobRunner(store, tmp_path, pool_factory=_NoWorkers), store, job)
    assert store.get(job).state == "failed" and store.get(job).done == 1  # type: ignore[union-attr]
    other = store.create("f" * 16, "req-2", spec, 3, max_active=2).id  # queued meanwhile

    replies: list[dict] = []
    server = SimpleNamespace(
        store=store,
        limits=SimpleNamespace(max_active_jobs=2),
        runner=SimpleNamespace(wake=lambda: None, version=0),
        _job=store.get,
        _status=lambda j: {"state": j.state, "done": j.done},
        _reply=lambda envelope, request, **reply: replies.append(reply),
    )

    def resume(job_id: str) -> None:
        request = parse_request({"v": 1, "id": "r", "token": "t", "op": "resume", "job": job_id})
        Server._resume(server, [], request)  # type: ignore[arg-type]

    server.limits.max_active_jobs = 1
    with pytest.raises(ProtocolError) as refused:
        resume(job)  # the queue is full: the cap holds as for a submit
    assert refused.value.code == OVER_LIMIT
    server.limits.max_active_jobs = 2
    resume(job)
    assert replies[-1]["job"] == {"state": "queued", "done": 1} and store.get(job).error is None  # type: ignore[union-attr]
    assert store.next_queued().id == other  # type: ignore[union-attr] - at the back of the queue
    resume(job)  # a retried resume leaves the queued job as it is
    store.set_state(other, "complete")
    _run_until_over(JobRunner(store, tmp_path, pool_factory=_NoWorkers), store, job)
    assert asked == [[0, 1, 2], [1, 2]]  # only the missing images
    assert store.get(job).state == "complete" and store.logged_indices(job) == {0, 1, 2}  # type: ignore[union-attr]
    with pytest.raises(ProtocolError) as refused:
        resume(job)
    assert refused.value.code == BAD_REQUEST and "nothing to resume" in refused.value.message


def test_a_restart_lists_the_images_each_interrupted_job_finished_last(tmp_path: Path) -> None:
    """Killed while cancelling, a job is cancelled on restart and never runs again; a running one is
    queued again and can wait, or be cancelled while waiting, before its runner logs anything. The
    images their workers finished after their last log entry must be logged at the restart, or nobody
    can list, stream or fetch them."""
    from scenesmith.api.jobs import dataset_dir
    from scenesmith.api.runner import recover_interrupted

    store = JobStore(tmp_path / "jobs.sqlite")
    running, cancelling = "a" * 16, "c" * 16
    for job_id in (running, cancelling):
        store.create(job_id, job_id, SPEC, 4, max_active=10)
    store.set_state(running, "running")
    store.set_state(cancelling, "running")
    assert store.request_cancel(cancelling) == "cancelling"
    for job_id in (running, cancelling):
        store.add_samples(job_id, [0])
        meta = dataset_dir(tmp_path, job_id) / "meta"
        meta.mkdir(parents=True)
        for index in (0, 1, 2):  # on disk: 1 and 2 were written after the last log entry
            (meta / f"{index:06d}.json").write_text("{}")
    assert recover_interrupted(store, tmp_path) == [running]
    assert store.get(cancelling).state == "cancelled" and store.logged_indices(cancelling) == {0, 1, 2}  # type: ignore[union-attr]
    assert store.get(running).state == "queued" and store.logged_indices(running) == {0, 1, 2}  # type: ignore[union-attr]
    assert store.request_cancel(running) == "cancelled"  # while queued: nothing would log them later


def test_resuming_a_cancelling_job_is_refused_not_answered_as_done(tmp_path: Path) -> None:
    """Left as it was, the job ended cancelled with nothing to resume it, while the reply and the CLI's
    exit status said the resume was taken."""
    from types import SimpleNamespace

    from scenesmith.api.jobs import Limits
    from scenesmith.api.protocol import BAD_REQUEST, ProtocolError, parse_request
    from scenesmith.api.server import Server

    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create("a" * 16, "req-1", SPEC, 2, max_active=1)
    store.set_state(job.id, "running")
    assert store.request_cancel(job.id) == "cancelling"
    server = SimpleNamespace(store=store, limits=Limits(), _job=lambda job_id: Server._job(server, job_id))
    request = parse_request({"v": 1, "id": "r2", "token": "t", "op": "resume", "job": job.id})
    with pytest.raises(ProtocolError) as refused:
        Server._resume(server, [], request)  # type: ignore[arg-type]
    assert refused.value.code == BAD_REQUEST
    assert refused.value.message == f"job {job.id} is cancelling: resume it once it is cancelled"
    assert store.get(job.id).state == "cancelling"  # type: ignore[union-attr]


def test_a_full_disk_is_reported_as_such_and_the_store_stays_usable(tmp_path: Path) -> None:
    """SQLite rolls a transaction back by itself when the disk is full; a second ROLLBACK replaced that
    error with "cannot rollback - no transaction is active", in job errors and in replies."""
    import sqlite3

    store = JobStore(tmp_path / "jobs.sqlite")
    store.create("a" * 16, "req-1", SPEC, 2, max_active=10)
    db = store._db()
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # a disk with no room for one more page
    big = {**SPEC, "scene_text": "x" * 100_000}
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        store.create("b" * 16, "req-2", big, 2, max_active=10)
    db.execute("PRAGMA max_page_count = 1000000")  # room again: the same connection writes on
    assert store.create("c" * 16, "req-3", SPEC, 2, max_active=10).state == "queued"


def test_a_queued_job_over_a_lowered_count_cap_fails_over_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restarted with a lower --max-count rendered a queued job's whole count: the caps are
    checked again on every load, as PROTOCOL.md says, and the count is one of them."""
    import scenesmith.pipeline
    from scenesmith.api.jobs import Limits
    from scenesmith.api.runner import JobRunner

    def fake_generate_dataset(count: int, on_sample, load, overrides, **_: object) -> None:  # noqa: ANN001
        load("", overrides)  # as generate_dataset does before it renders anything
        for index in range(count):
            on_sample(index)

    monkeypatch.setattr(scenesmith.pipeline, "generate_dataset", fake_generate_dataset)
    store = JobStore(tmp_path / "jobs.sqlite")
    spec = {**SPEC, "scene_text": "extends: dice_tray\n", "source": "builtin:dice_tray", "base": "builtin"}
    job = store.create("e" * 16, "r1", {**spec, "image_format": "png", "overrides": []}, 2, max_active=10)
    runner = JobRunner(store, tmp_path, pool_factory=_NoWorkers, limits=Limits(max_count=1))
    _run_until_over(runner, store, job.id)
    failed = store.get(job.id)
    assert failed is not None and failed.state == "failed"
    assert failed.error == "over_limit: count 2 exceeds this server's cap of 1"


def test_images_found_on_disk_after_a_restart_do_not_inflate_the_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logged together at one time, they read as images rendered in no time: 3 found + 1 rendered a
    second later gave 3 images/s."""
    import time

    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create("a" * 16, "req-1", SPEC, 10, max_active=1)
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    store.set_state(job.id, "running")
    clock[0] = 1001.0
    store.add_samples(job.id, [0, 1, 2], rendered_now=False)  # rendered by the killed server
    clock[0] = 1002.0
    store.add_samples(job.id, [3])
    assert store.rate(store.get(job.id)) is None  # one image of this run: no rate yet
    clock[0] = 1004.0
    store.add_samples(job.id, [4])
    assert store.rate(store.get(job.id)) == pytest.approx(0.5)
    assert store.logged_indices(job.id) == {0, 1, 2, 3, 4}


def test_folders_of_deleted_jobs_a_stopped_server_left_are_removed_at_start(tmp_path: Path) -> None:
    """`delete` forgets a job, renames its folder and removes it in the background: a server stopped
    in between leaves either folder, and the next start clears both, sparing the known jobs'."""
    import time

    from scenesmith.api.jobs import discard_job_folder, remove_discarded

    known, renamed, orphan = "a" * 16, "b" * 16, "c" * 16
    for job in (known, renamed, orphan):
        (tmp_path / "jobs" / job / "dataset").mkdir(parents=True)
    discarded = discard_job_folder(tmp_path, renamed)
    assert discarded is not None and discarded.name == f".deleted-{renamed}"
    assert discard_job_folder(tmp_path, "d" * 16) is None  # a job with no folder
    remove_discarded(tmp_path, known_jobs={known})
    deadline = time.monotonic() + 30
    while len(list((tmp_path / "jobs").iterdir())) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.name for p in (tmp_path / "jobs").iterdir()] == [known]
