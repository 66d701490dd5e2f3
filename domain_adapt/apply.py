"""Apply a fitted adapter to a scenesmith dataset: new pixels, the very same labels.

Why copy labels byte for byte: an adapter changes appearance only, so masks, depth, boxes and poses
of the source stay exact; copying (not re-deriving) them makes that a checkable fact. The output is
a complete scenesmith dataset folder that every other command reads, and the manifest says which
adapter made it. Like `generate`, it is resumable (an image is done iff its meta file exists; meta
is written last) and deterministic: image k draws from rng(seed, k), so a resumed run writes the
same bytes as a straight one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from zipfile import BadZipFile

import numpy as np
from tqdm import tqdm

from scenesmith.annotate.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    remove_stale_temp_files,
)
from scenesmith.annotate.dataset_writer import (
    SAMPLE_FOLDERS,
    completed_indices,
    load_metas,
    require_current_coco,
)
from scenesmith.annotate.writer_lock import exclusive_writer, holds_files
from scenesmith.domain_adapt.adapter import ADAPTER_FILE, REAL_SOURCE_FILE, Adapter, loader
from scenesmith.domain_adapt.images import encode_like, read_rgb
from scenesmith.errors import UserError

MANIFEST = "manifest.json"
COCO = "annotations.json"


def load_adapter(folder: Path) -> tuple[Adapter, dict]:
    """The adapter saved in `folder` and its adapter.json record."""
    record_path = folder / ADAPTER_FILE
    if not record_path.is_file():
        raise UserError(
            f"{folder}: not an adapter (no {ADAPTER_FILE}); make one with `scenesmith adapt train`"
        )
    try:
        record = json.loads(record_path.read_text())
        method = record.get("method")
    except (ValueError, AttributeError) as exc:
        raise UserError(
            f"{record_path}: not an adapter record ({exc}); refit with `scenesmith adapt train`"
        ) from None
    try:
        load = loader(method)
    except KeyError:
        raise UserError(f"{record_path}: unknown adapter method {method!r}") from None
    try:
        return load(folder), record
    except (KeyError, IndexError, ValueError, TypeError, OSError, EOFError, RuntimeError, BadZipFile) as exc:
        # A hand-edited record or a truncated side file (a cut .npz is no zip, a cut .pt fails in torch):
        # name what is wrong instead of failing inside the method.
        what = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise UserError(
            f"{folder}: a damaged {method} adapter (its {ADAPTER_FILE} or side files: {what}); refit it with "
            "`scenesmith adapt train`"
        ) from None


def fitted_real_images(folder: Path) -> list[Path]:
    """The real images the adapter in `folder` learned from, as its real_source.json records them: what
    the benchmark checks against its test photos before an adapted arm may train."""
    record_path = folder / REAL_SOURCE_FILE
    if not record_path.is_file():
        raise UserError(
            f"{folder}: no {REAL_SOURCE_FILE}, so nothing shows which real images it was fitted on; refit it "
            "with `scenesmith adapt train`"
        )
    try:
        return [Path(path) for path in json.loads(record_path.read_text())["images"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{record_path}: images: expected the list of real image paths ({type(exc).__name__}: {exc}); "
            "refit the adapter with `scenesmith adapt train`"
        ) from None


def adapter_digest(folder: Path) -> str:
    """SHA-256 of every file of an adapter folder (adapter.json and its side files: FDA's amplitude
    bank, a translator's weights): what the adapter is, whatever its settings say."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# What makes two adapted folders the same: the adapter's content and settings and the seed. Where the
# adapter and the source lie is recorded for the reader, not compared: a moved adapter folder or cache
# is the same adapter (the source's content is checked image by image instead, see `_unchanged_source`).
SAME_ADAPTER_KEYS = ("method", "parameters", "seed", "files_sha256")


def _same_adapter(recorded: dict | None, provenance: dict) -> bool:
    """Whether a folder's recorded adapter is this one. Folders adapted before the digest was recorded
    (2026-12-06) are matched on the rest, paths included: their adapter's files cannot be checked."""
    if recorded is None:
        return False
    if "files_sha256" not in recorded:
        return recorded == {k: v for k, v in provenance.items() if k != "files_sha256"}
    return all(recorded.get(key) == provenance[key] for key in SAME_ADAPTER_KEYS)


def _unchanged_source(dataset: Path, out: Path, done: set[int]) -> None:
    """Refuse to resume onto a source whose finished images are not the ones adapted (another seed,
    other rules, another dataset): the old images would stay beside labels of the new ones. A source
    rendered again to the same images (the same seed on the same renderer) differs only in its
    timings, which are not compared."""
    for index in sorted(done):
        name = f"{index:06d}.json"
        source_meta = dataset / "meta" / name
        if not source_meta.is_file() or _without_timings(source_meta) != _without_timings(
            out / "meta" / name
        ):
            raise UserError(
                f"{out}: image {index} was adapted from another image than {source_meta} (a different "
                f"dataset, or {dataset} made again otherwise); use a new output folder"
            )


def _without_timings(meta_path: Path) -> dict:
    meta = read_json(meta_path)
    meta.get("render", {}).pop("timings", None)
    return meta


def _copy_atomic(source: Path, target: Path) -> None:
    atomic_write_bytes(target, source.read_bytes())


def apply_adapter(model: Path, dataset: Path, out: Path, seed: int = 0, progress: bool = True) -> Path:
    """Write `dataset` adapted by the adapter in `model` into `out`; return `out`."""
    dataset, out = Path(dataset), Path(out)
    if not (dataset / "meta").is_dir():
        raise UserError(f"{dataset}: not a scenesmith dataset folder (no meta/)")
    if not completed_indices(dataset):  # else a "complete" copy with labels and no image was written
        raise UserError(f"{dataset}: no finished image (meta/*.json); nothing to adapt")
    if out.resolve() == dataset.resolve():
        raise UserError(f"{out}: the output must be a new folder, not the source dataset")
    if (dataset / COCO).is_file():  # copied at the end: a stale one would label the copy wrongly
        require_current_coco(dataset, read_json(dataset / COCO))
    adapter, record = load_adapter(Path(model))
    manifest = read_json(dataset / MANIFEST) if (dataset / MANIFEST).is_file() else {}
    provenance = {
        "method": record["method"],
        "folder": str(Path(model).resolve()),
        "parameters": _summary(record),
        "seed": seed,
        "source": str(dataset.resolve()),
        # A refit with another seed or other photos keeps the settings but not the fitted content.
        "files_sha256": adapter_digest(Path(model)),
    }
    _check_output(out, provenance, dataset)  # a refusal touches nothing, not even the lock file
    with exclusive_writer(out):  # a second run into `out` is refused, not interleaved
        done = _check_output(out, provenance, dataset)  # again: as the lock found it
        remove_stale_temp_files(out, SAMPLE_FOLDERS)  # a killed run's: their images are redone (no meta)
        atomic_write_json(out / MANIFEST, {**manifest, **_adapter_chain(manifest, provenance)})
        _adapt_images(adapter, record["method"], dataset, out, done, seed, progress)
        if (dataset / COCO).is_file():
            _copy_atomic(dataset / COCO, out / COCO)
    return out


def _adapter_chain(manifest: dict, provenance: dict) -> dict:
    """The manifest's adapter fields for `provenance` applied to `manifest`'s dataset: `adapter` is the
    last one applied, `earlier_adapters` the ones the source had been through already, in order."""
    if "adapter" not in manifest:
        return {"adapter": provenance}
    return {
        "adapter": provenance,
        "earlier_adapters": [*manifest.get("earlier_adapters", []), manifest["adapter"]],
    }


def _check_output(out: Path, provenance: dict, dataset: Path) -> set[int]:
    """Refuse an `out` that holds anything but this adaptation of `dataset`; return the images done."""
    previous = out / MANIFEST
    if previous.is_file() and not _same_adapter(read_json(previous).get("adapter"), provenance):
        raise UserError(f"{out}: holds a dataset adapted differently; use another output folder")
    if not previous.is_file() and holds_files(out):
        raise UserError(f"{out}: exists and is not an adapted dataset; use a new output folder")
    done = completed_indices(out) if out.is_dir() else set()
    _unchanged_source(dataset, out, done)
    return done


def _adapt_images(
    adapter: Adapter, method: str, dataset: Path, out: Path, done: set[int], seed: int, progress: bool
) -> None:
    """Adapt every image of `dataset` not in `done` into `out`, its other files copied unchanged; each
    image's meta is written last, so a killed run redoes exactly the images it had not finished."""
    metas = load_metas(dataset)
    for meta in tqdm(metas, desc=f"adapt ({method})", unit="img", disable=not progress):
        index = meta["image_id"] - 1
        if index in done:
            continue
        files = meta["files"]
        image_path = dataset / files["image"]
        rng = np.random.default_rng([seed, index])
        source = read_rgb(image_path)
        try:
            adapted = adapter.apply(source, rng)
        except UserError as exc:  # e.g. a render larger than the adapter was fitted for
            raise UserError(f"{image_path}: {method} adapter: {exc}") from None
        except Exception as exc:
            exc.add_note(f"while adapting {image_path} with the {method} adapter")
            raise
        if adapted.shape != source.shape or adapted.dtype != np.uint8:  # the contract labels rely on
            raise RuntimeError(
                f"{method} adapter returned {adapted.dtype} {adapted.shape} for {source.shape}"
            )
        # An image the adapter left as it was keeps its bytes: re-encoding a JPEG would change it.
        unchanged = np.array_equal(adapted, source)
        image_bytes = image_path.read_bytes() if unchanged else encode_like(image_path, adapted)
        atomic_write_bytes(out / files["image"], image_bytes)
        for key, relative in files.items():
            if key != "image":
                _copy_atomic(dataset / relative, out / relative)
        meta_path = dataset / "meta" / f"{index:06d}.json"
        _copy_atomic(meta_path, out / "meta" / meta_path.name)  # last: the image is complete


def _summary(record: dict) -> dict:
    """adapter.json without bulky arrays (histogram tone curves), for the manifest."""
    return {k: v for k, v in record.items() if k != "curves_lab"}
