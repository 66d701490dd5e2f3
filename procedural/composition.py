"""Reusable parts of scene files: `extends:` (inherit a whole scene) and `include:` (splice a part).

    extends: dice_tray                    # a built-in name, or a path relative to this file
    objects:
      dice: {count: 3}                    # merged into the parent's objects.dice

    palette:
      - {include: "parts/dice_palettes.yaml#classic.red", weight: 3}   # part + local overrides

Mappings merge key by key (this file wins); lists and values replace. Both are resolved before
validation, so errors still name the final key path, and the dataset hash covers the merged rules.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

BUILTIN_PACKAGE = "scenesmith.scenes"


class CompositionError(ValueError):
    """A reference that cannot be resolved (the loader reports it as a scene-rule error)."""


def builtin_dir() -> Path:
    return Path(str(resources.files(BUILTIN_PACKAGE)))


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CompositionError(f"{source}: invalid YAML{position}: {problem}") from None


def deep_merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: mappings merge recursively, anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return over


def _locate(reference: str, base_dir: Path, where: str) -> Path:
    file_part = reference.split("#", 1)[0]
    candidates = [base_dir / file_part]
    if not file_part.endswith((".yaml", ".yml")):
        candidates.append(builtin_dir() / f"{file_part}.yaml")
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise CompositionError(
        f"{where}: cannot find {file_part!r} (looked in {base_dir} and the built-in scenes)"
    )


def _load_reference(reference: Any, base_dir: Path, where: str, stack: tuple[Path, ...]) -> tuple[Any, Path]:
    if not isinstance(reference, str) or not reference.split("#", 1)[0]:
        raise CompositionError(f"{where}: expected 'file.yaml' or 'file.yaml#key.path', got {reference!r}")
    path = _locate(reference, base_dir, where)
    if path in stack:
        chain = " → ".join(str(p.name) for p in (*stack, path))
        raise CompositionError(f"{where}: circular reference {chain}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompositionError(f"{where}: cannot read {path} ({exc})") from None
    data = resolve(parse_yaml(text, str(path)), path.parent, str(path), (*stack, path))
    _, _, key_path = reference.partition("#")
    for key in filter(None, key_path.split(".")):
        if not isinstance(data, dict) or key not in data:
            raise CompositionError(f"{where}: {path.name} has no key path {key_path!r}")
        data = data[key]
    return data, path


def _splice(node: Any, base_dir: Path, where: str, stack: tuple[Path, ...]) -> Any:
    """Replace every `{include: ref, ...}` below `node` by the part merged with its siblings."""
    if isinstance(node, list):
        return [_splice(item, base_dir, f"{where}[{i}]", stack) for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    spliced = {k: _splice(v, base_dir, f"{where}.{k}" if where else str(k), stack) for k, v in node.items()}
    if "include" not in spliced:
        return spliced
    part, _ = _load_reference(spliced.pop("include"), base_dir, f"{where or 'top level'}.include", stack)
    return deep_merge(part, spliced)


def resolve(data: Any, base_dir: Path, source: str, stack: tuple[Path, ...] = ()) -> Any:
    """Resolve `include:` everywhere and a top-level `extends:` (recursively, cycles refused)."""
    data = _splice(data, base_dir, "", stack)
    if not isinstance(data, dict) or "extends" not in data:
        return data
    parents = data.pop("extends")
    merged: Any = {}
    for parent in parents if isinstance(parents, list) else [parents]:
        loaded, _ = _load_reference(parent, base_dir, f"{source}: extends", stack)
        if not isinstance(loaded, dict):
            raise CompositionError(f"{source}: extends {parent!r}: expected a mapping of scene rules")
        merged = deep_merge(merged, loaded)
    return deep_merge(merged, data)
