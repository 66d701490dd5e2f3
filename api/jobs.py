"""What a submitted job is: its stored spec, how its scene loads, its folder, and the server's caps.

Why separate from the server: the request loop checks a submission with exactly the code the job
runner later renders it with (same loader, same overrides), so a job that was accepted cannot fail
later for a reason the submission could have been told about.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenesmith.api.protocol import (
    DEFAULT_MAX_REQUEST_BYTES,
    JOB_ID_RE,
    OVER_LIMIT,
    ProtocolError,
    SubmitRequest,
)
from scenesmith.procedural.composition import builtin_dir
from scenesmith.procedural.loader import LoadedScene, SceneRuleError, load_scene_text


@dataclass(frozen=True)
class Limits:
    """Per-request caps (configurable on `scenesmith serve`) and message-size limits."""

    max_count: int = 10_000
    max_resolution: int = 2048  # pixels per side
    max_samples: int = 1024
    max_active_jobs: int = 1000  # queued + running
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES  # explicit check; answered with a `too_large` error
    max_credit: int = 64  # samples per stream reply
    max_chunk_bytes: int = 4 << 20  # bytes per fetch reply
    max_reply_bytes: int = 64 << 20  # a stream reply stops adding samples beyond this

    @property
    def hard_message_bytes(self) -> int:
        """ZMQ_MAXMSGSIZE: above this ZMQ drops the message and the peer, before Python sees it."""
        return 4 * self.max_request_bytes


DISCARDED_PREFIX = ".deleted-"  # a deleted job's folder, renamed at once and removed in the background


def discard_job_folder(data_root: Path, job_id: str) -> Path | None:
    """Move a deleted job's folder out of the way at once (a rename), for removal later; None if it
    had none. Renamed first, so no request can find a half-removed dataset under the job's name."""
    folder = job_dir(data_root, job_id)
    if not folder.exists():
        return None
    discarded = folder.with_name(f"{DISCARDED_PREFIX}{job_id}")
    os.replace(folder, discarded)
    return discarded


def remove_in_background(folder: Path) -> None:
    """Remove a discarded folder on a thread of its own: a big dataset takes a while, and neither a
    request (a submit's check) nor the server's exit should wait for it. A removal cut short by an
    exit is finished at the next start (`remove_discarded`)."""
    threading.Thread(
        target=shutil.rmtree,
        args=(folder,),
        kwargs={"ignore_errors": True},
        name="scenesmith-delete",
        daemon=True,
    ).start()


def remove_discarded(data_root: Path, known_jobs: set[str]) -> None:
    """At start-up, remove (in the background) the folders of deleted jobs a stopped server left:
    renamed ones, and any job folder the store no longer knows (a server that died between forgetting
    a job and renaming its folder). A job's row is stored before its folder is made, so no other
    folder lacks one."""
    jobs = Path(data_root) / "jobs"
    if not jobs.is_dir():
        return
    for folder in jobs.iterdir():
        if folder.name.startswith(DISCARDED_PREFIX):
            remove_in_background(folder)
        elif JOB_ID_RE.fullmatch(folder.name) and folder.name not in known_jobs:
            discarded = discard_job_folder(data_root, folder.name)
            if discarded is not None:
                remove_in_background(discarded)


def job_dir(data_root: Path, job_id: str) -> Path:
    """data_root/jobs/<id>; the id is checked against its pattern first, so it can never be a path."""
    if not JOB_ID_RE.fullmatch(job_id):
        raise ValueError(f"invalid job id {job_id!r}")
    return Path(data_root) / "jobs" / job_id


def dataset_dir(data_root: Path, job_id: str) -> Path:
    return job_dir(data_root, job_id) / "dataset"


def scenes_root(data_root: Path) -> Path:
    """Scene files a request may name or reference (`extends`, `include`, mesh paths) live here."""
    return Path(data_root) / "scenes"


def make_spec(request: SubmitRequest, data_root: Path) -> dict[str, Any]:
    """The stored form of a submission: the scene's text is frozen at submit time, so a resumed
    job renders the same rules even if a data-root scene file is edited meanwhile."""
    root = scenes_root(data_root)
    if request.scene_yaml is not None:
        text, source, base = request.scene_yaml, "request", "root"
    else:
        name = request.scene or ""
        local = root / f"{name}.yaml"
        builtin = builtin_dir() / f"{name}.yaml"
        if local.is_file() and local.resolve().is_relative_to(root.resolve()):
            source, base = f"scenes/{name}.yaml", "root"
            try:
                text = local.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SceneRuleError(f"{source}: not readable as UTF-8 text ({exc})") from None
        elif builtin.is_file():
            text, source, base = builtin.read_text(encoding="utf-8"), f"builtin:{name}", "builtin"
        else:
            raise SceneRuleError(f"{name}: not a built-in scene and not a scene in the server's data root")
    return {**sent_spec(request), "scene_text": text, "source": source, "base": base}


def same_submission(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two specs come from the same submit: what the client sent, not what the server made
    of it. A named scene's frozen text and where it was found are left out: a retry after a data-root
    scene file was edited (or began to shadow a built-in) is still the same request, and it keeps the
    job it created. Text sent in the request (`source` "request") is part of the request itself:
    other rules under a used id are another submit, never the old job."""
    return _as_sent(stored) == _as_sent(new)


def _as_sent(spec: dict[str, Any]) -> dict[str, Any]:
    sent = {k: v for k, v in spec.items() if k not in ("scene_text", "source", "base")}
    sent["scene_yaml"] = spec.get("scene_text") if spec.get("source") == "request" else None
    return sent


def sent_spec(request: SubmitRequest) -> dict[str, Any]:
    """The spec fields a request gives by itself, for comparing a retry with its stored job before
    anything is loaded: a retry must get its job back even if its scene file is gone or invalid by
    now, or the server's caps changed."""
    return {
        "scene": request.scene,
        "scene_text": request.scene_yaml,
        "source": "request" if request.scene_yaml is not None else None,
        "overrides": list(request.overrides),
        "count": request.count,
        "seed": request.seed,
        "resolution": list(request.resolution) if request.resolution else None,
        "samples": request.samples,
        "image_format": request.image_format,
        "outputs": list(dict.fromkeys(request.outputs)),
    }


def render_overrides_of(spec: dict[str, Any]) -> list[str]:
    """The spec's overrides plus its resolution/samples, as the pipeline takes them."""
    from scenesmith.pipeline import render_overrides

    resolution = tuple(spec["resolution"]) if spec.get("resolution") else None
    return [*spec["overrides"], *render_overrides(resolution, spec.get("samples"))]


def scene_loader(spec: dict[str, Any], data_root: Path) -> Callable[[str, Sequence[str]], LoadedScene]:
    """`load(scene, overrides)` for `generate_dataset`: the frozen text, confined to the data root."""
    root = scenes_root(data_root)
    base = builtin_dir() if spec["base"] == "builtin" else root

    def load(_scene: str, overrides: Sequence[str]) -> LoadedScene:
        return load_scene_text(spec["scene_text"], list(overrides), root, spec["source"], base)

    return load


def check_spec(spec: dict[str, Any], data_root: Path, limits: Limits) -> LoadedScene:
    """Load the scene as the runner will and enforce the caps on the final rules (a scene's own
    YAML can set resolution and samples, so the request fields alone prove nothing)."""
    return capped_loader(spec, data_root, limits)("", render_overrides_of(spec))


def capped_loader(
    spec: dict[str, Any], data_root: Path, limits: Limits
) -> Callable[[str, Sequence[str]], LoadedScene]:
    """`scene_loader` that enforces the caps on every load, the runner's included: a data-root file
    the frozen text extends or includes can be edited between submit and render, and a server restarted
    with lower caps must not render a queued or resumed job over them."""
    load = scene_loader(spec, data_root)

    def checked(scene: str, overrides: Sequence[str]) -> LoadedScene:
        if spec["count"] > limits.max_count:
            raise ProtocolError(
                OVER_LIMIT, f"count {spec['count']} exceeds this server's cap of {limits.max_count}"
            )
        loaded = load(scene, overrides)
        width, height = loaded.rules.render.resolution
        if max(width, height) > limits.max_resolution:
            raise ProtocolError(
                OVER_LIMIT,
                f"resolution {width}x{height} exceeds this server's cap of {limits.max_resolution} px a side",
            )
        if loaded.rules.render.samples > limits.max_samples:
            raise ProtocolError(
                OVER_LIMIT,
                f"samples {loaded.rules.render.samples} exceed this server's cap of {limits.max_samples}",
            )
        return loaded

    return checked
