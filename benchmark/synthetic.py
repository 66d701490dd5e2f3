"""Synthetic training sets rendered once into a cache outside the repository, re-rendered when gone.

Why a cache keyed by everything that changes pixels: the pretraining set is the slowest thing in the
benchmark to make, every seed and arm reuses it, and `generate_dataset` already resumes and refuses a
folder that holds a different dataset, so a killed benchmark picks up the render where it stopped and
a deleted cache comes back bit-identical from the same seed. The folder name carries the hash of the
fully resolved rules (overrides and schema defaults included), so editing the scene, or a new rule
default, renders a new set beside the old one instead of failing on the old folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from filelock import FileLock

from scenesmith.annotate.dataset_writer import completed_indices
from scenesmith.errors import UserError
from scenesmith.pipeline import generate_dataset, render_overrides, wall_seconds
from scenesmith.procedural.build import build_tag, plugin_revisions
from scenesmith.procedural.loader import LoadedScene, load_scene

CACHE_ENV = "SCENESMITH_CACHE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "scenesmith"))


@dataclass(frozen=True)
class SyntheticSpec:
    scene: str
    count: int
    seed: int
    resolution: tuple[int, int]
    samples: int
    overrides: tuple[str, ...] = ()

    @property
    def render_rules(self) -> list[str]:
        return [*self.overrides, *render_overrides(self.resolution, self.samples)]

    @cached_property
    def loaded(self) -> LoadedScene:
        """The scene with the set's overrides, read once: the names and labels below all come from it."""
        return load_scene(self.scene, self.render_rules)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The category names the rendered set will carry, in category-id order, known before rendering."""
        return tuple(c.name for c in sorted(self.loaded.rules.categories, key=lambda c: c.id))

    @property
    def plugin_revisions(self) -> dict[str, int]:
        """The revised plug-ins the set's rules use (see `procedural.build.plugin_revisions`)."""
        return plugin_revisions(self.loaded.rules)

    @property
    def folder_name(self) -> str:
        name = Path(self.scene).stem
        width, height = self.resolution
        rules, build = self.loaded.rules_hash[:10], build_tag(self.loaded.rules)
        return f"{name}_{width}x{height}_s{self.samples}_seed{self.seed}_rules{rules}_build{build}"


def ensure_synthetic(spec: SyntheticSpec, device: str = "auto", create: bool = True) -> Path:
    """Render (or finish rendering) the set in the cache; return its folder.

    A folder that already holds more images than asked is kept whole (a dataset only grows); callers
    take the first `count` image ids from it. With `create` False (`--report-only`), a set that is not
    complete in the cache is an error rather than a render of many minutes.
    """
    folder = cache_root() / "synthetic" / spec.folder_name
    if not create:
        _require_cached(folder, spec.count)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _cache_lock(folder):
        done = len(completed_indices(folder)) if folder.exists() else 0
        generate_dataset(
            spec.scene,
            spec.render_rules,
            count=max(spec.count, done),
            seed=spec.seed,
            out_dir=folder,
            device=device,
        )
    return folder


def render_seconds(folder: Path, count: int) -> float:
    """Wall time the generator spent on the set's first `count` images, over every run that built them.

    Only the first `count`: a cached set may have been extended for another benchmark since.
    """
    return wall_seconds(json.loads((folder / "manifest.json").read_text()), count)


def ensure_adapted(folder: Path, adapter: Path, seed: int, create: bool = True) -> Path:
    """`folder` passed through the adapter in `adapter`, cached beside it and keyed by the adapter.

    The key is a hash of adapter.json and its side files, so refitting an adapter adapts anew.
    With `create` False, an adapted set missing from the cache is an error, as in `ensure_synthetic`.
    """
    from scenesmith.domain_adapt.apply import adapter_digest, apply_adapter

    target = cache_root() / "adapted" / f"{folder.name}_{Path(adapter).name}_{adapter_digest(adapter)[:10]}"
    if not create:
        _require_cached(target, len(completed_indices(folder)))
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _cache_lock(target):
        return apply_adapter(Path(adapter), folder, target, seed=seed)


def _require_cached(folder: Path, count: int) -> None:
    done = len(completed_indices(folder)) if folder.is_dir() else 0
    if done < count:
        raise UserError(
            f"{folder}: {done} of {count} images in the cache (SCENESMITH_CACHE={cache_root()}); "
            "--report-only renders nothing: point SCENESMITH_CACHE at the cache the runs used, or run "
            "without --report-only to render the set"
        )


def _cache_lock(folder: Path) -> FileLock:
    """Benchmark processes started together wait for one render (or adaptation) instead of racing."""
    locks = folder.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(locks / f"{folder.name}.lock")
