"""What a run folder's inputs are by content: the real photos with their labels, and each adapter.

Why apart from `config.json`: the settings name the real data and the adapters by path, and a path can
come to hold other photos, corrected labels or a refitted adapter. A resumed run would then train its
later arms on other data than its earlier ones and report them side by side. So the content is
recorded in `inputs.json` when a run first sees it, and a resume that finds other content is refused.
A run folder from before this file records its inputs on its next resume.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.benchmark.data import DetectionSet
from scenesmith.errors import UserError

INPUTS = "inputs.json"


def real_data_digest(*sets: DetectionSet) -> str:
    """SHA-256 of the sets as the benchmark sees them: class names, image ids, file names, decoded
    pixels, boxes and labels (a photo re-encoded to the same pixels is the same data)."""
    digest = hashlib.sha256()
    for dataset in sets:
        digest.update(json.dumps(dataset.class_names).encode())
        for sample in dataset.samples:
            digest.update(f"{sample.image_id}\0{sample.file_name}\0{sample.image.shape}\0".encode())
            for array in (sample.image, sample.boxes, sample.labels, sample.ignore):
                digest.update(array.tobytes())
    return digest.hexdigest()


def check_inputs(out: Path, real_data: str, adapters: dict[str, str]) -> None:
    """Refuse a run folder whose recorded inputs differ from these; record what it lacks.

    `adapters`: arm tag → adapter digest. A tag the folder has not seen is added (adding an adapter
    adds arms, it changes none).
    """
    path = out / INPUTS
    recorded = recorded_inputs(out)
    merged = merged_inputs(recorded, {"real_data": real_data, "adapters": adapters}, out)
    if merged != recorded:
        atomic_write_json(path, merged)


def merged_inputs(recorded: dict, given: dict, out: Path) -> dict:
    """One record of both, or a UserError naming `out` when they disagree on the real data or on an
    adapter they both name (a record may lack either: older folders, arms not trained yet)."""
    path = out / INPUTS
    real_data = given.get("real_data") or recorded.get("real_data")
    if recorded.get("real_data", real_data) != real_data:
        raise UserError(
            f"{out}: its runs trained on other real photos or labels than the ones given now (their "
            f"content differs from {path}'s record); use another --out, or the data the run began with"
        )
    adapters = given.get("adapters", {})
    changed = sorted(
        tag for tag, digest in adapters.items() if recorded.get("adapters", {}).get(tag, digest) != digest
    )
    if changed:
        raise UserError(
            f"{out}: adapter(s) {', '.join(changed)} differ from the one(s) its adapted arms were trained "
            f"with ({path}): a refitted adapter makes new arms; give it another folder name or use another "
            "--out"
        )
    return {"real_data": real_data, "adapters": {**recorded.get("adapters", {}), **adapters}}


def check_lender(source: Path, out: Path, flag: str) -> None:
    """Runs lent by another run folder must have trained on the same real photos and labels (when
    that folder recorded them: one from before `inputs.json` is taken on trust)."""
    theirs, ours = recorded_inputs(source).get("real_data"), recorded_inputs(out).get("real_data")
    if theirs and ours and theirs != ours:
        raise UserError(f"{flag} {source}: its runs trained on other real photos or labels than this run's")


def recorded_inputs(folder: Path) -> dict:
    """The folder's `inputs.json` ({} when it has none: a folder from before the record)."""
    path = folder / INPUTS
    return json.loads(path.read_text()) if path.is_file() else {}
