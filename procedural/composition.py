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

import re
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

BUILTIN_PACKAGE = "scenesmith.scenes"


class CompositionError(ValueError):
    """A reference that cannot be resolved (the loader reports it as a scene-rule error)."""


@dataclass(frozen=True)
class Confinement:
    """Rules for scene text that arrives from outside (an API request) rather than from a local file.

    Why: such text is data from another machine. References (`extends`, `include`) may only reach
    files below `root` or the built-in scenes, and YAML aliases may not blow up into a huge
    document ("billion laughs") or a recursive one. Local files keep the unrestricted behaviour.
    """

    root: Path
    max_aliases: int = 64
    max_nodes: int = 100_000
    max_depth: int = 64

    def allows(self, path: Path) -> bool:
        """Whether the (resolved) file lies below the root or among the built-in scenes."""
        resolved = path.resolve()
        return any(resolved.is_relative_to(base.resolve()) for base in (self.root, builtin_dir()))


def builtin_dir() -> Path:
    return Path(str(resources.files(BUILTIN_PACKAGE)))


class SceneLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader (plain data, no Python tags) with three fixes for hand-written rules.

    A key repeated in one mapping is an error: YAML keeps the last one, so a copy-pasted group that
    was never renamed would silently replace its twin. `1e-3`, `2e3` are numbers, as in YAML 1.2
    and JSON: YAML 1.1 reads them as strings, which turned `scale: 1e-3` into "expected a number".
    And integers follow YAML 1.2 too: YAML 1.1 reads a leading zero as octal and `a:b` as base 60,
    so `day_of_year=045` silently became 37, `{randint: [010, 020]}` drew 8..16 and `09` (no octal
    digit) was a string; now they are 45, 10..20 and 9 (`0o17` and `0x1f` still say another base).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` is merged by SafeLoader; its keys may be overridden here
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue  # SafeLoader refuses it with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


SceneLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
INT_TAG = "tag:yaml.org,2002:int"
# YAML 1.2 core integers; `_` between digits is still allowed (YAML 1.1 files wrote `10_000`).
YAML12_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$")
SceneLoader.yaml_implicit_resolvers = {  # the YAML 1.1 rule swapped in place: resolvers try in order
    first: [(tag, YAML12_INT if tag == INT_TAG else pattern) for tag, pattern in resolvers]
    for first, resolvers in SceneLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """A YAML 1.2 integer: decimal even with leading zeros (`045` is 45), or `0o`/`0x` prefixed."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    return int(text, {"0o": 8, "0x": 16}.get(text[:2], 10))


SceneLoader.add_constructor(INT_TAG, _construct_int)


def parse_yaml(text: str, source: str, confine: Confinement | None = None) -> Any:
    try:
        if confine is None:
            return yaml.load(text, Loader=SceneLoader)  # noqa: S506 - a SafeLoader subclass
        data = yaml.load(text, Loader=_alias_limited_loader(confine.max_aliases, source))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CompositionError(f"{source}: invalid YAML{position}: {problem}") from None
    except RecursionError:
        raise CompositionError(f"{source}: YAML nested too deeply") from None
    except CompositionError:  # the alias limit's own message
        raise
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise CompositionError(f"{source}: invalid YAML: {str(exc).split(';')[0]}") from None
    _check_expanded_size(data, confine, source)
    return data


def _alias_limited_loader(max_aliases: int, source: str) -> type[yaml.SafeLoader]:
    """A SceneLoader (plain data, no Python tags) that refuses more than `max_aliases` aliases."""

    class AliasLimitedLoader(SceneLoader):
        aliases_seen = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.events.AliasEvent):
                self.aliases_seen += 1
                if self.aliases_seen > max_aliases:
                    raise CompositionError(f"{source}: more than {max_aliases} YAML aliases")
            return super().compose_node(parent, index)

    return AliasLimitedLoader


def _check_expanded_size(data: Any, confine: Confinement, source: str) -> None:
    """Refuse a document whose aliases expand beyond `max_nodes` nodes, nest too deep, or loop.

    Aliases are shared objects after loading, but merging and validation copy them: the size that
    matters is the expanded one. Memoised per object, so the check itself never expands anything.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise CompositionError(f"{source}: recursive YAML alias")
        if depth > confine.max_depth:
            raise CompositionError(f"{source}: YAML nested deeper than {confine.max_depth} levels")
        active.add(key)
        total = 1
        for child in node.values() if isinstance(node, dict) else node:
            total += size(child, depth + 1)
            if total > confine.max_nodes:
                raise CompositionError(f"{source}: YAML expands to more than {confine.max_nodes} nodes")
        active.discard(key)
        sizes[key] = total
        return total

    size(data, 0)


# A mapping with one of these as its only key is one distribution ({uniform: [a, b]}, {choice: ...}):
# a child's distribution replaces its parent's whole, or {choice: {values}} would keep the parent's
# weights and {loguniform: ...} over {uniform: ...} would hold two distributions.
DISTRIBUTION_KEYS = frozenset({"uniform", "loguniform", "normal", "truncnormal", "randint", "choice"})
# Keys that say which schema a mapping follows: another value means other keys, so it replaces.
TAG_KEYS = ("generator", "kind", "method")


def _replaces(base: dict, over: dict) -> bool:
    if len(over) == 1 and next(iter(over)) in DISTRIBUTION_KEYS:
        return True
    return any(tag in base and tag in over and base[tag] != over[tag] for tag in TAG_KEYS)


def deep_merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: mappings merge recursively, anything else is replaced; so is a
    mapping that is a distribution, or that names another generator, kind or method than `base`."""
    if isinstance(base, dict) and isinstance(over, dict) and not _replaces(base, over):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return over


def _locate(reference: str, base_dir: Path, where: str, confine: Confinement | None = None) -> Path:
    file_part = reference.split("#", 1)[0]
    candidates = [base_dir / file_part]
    if not file_part.endswith((".yaml", ".yml")):
        candidates.append(builtin_dir() / f"{file_part}.yaml")
    if confine is not None:
        if Path(file_part).is_absolute() or ".." in Path(file_part).parts:
            raise CompositionError(f"{where}: {file_part!r} must be a relative path without '..'")
        candidates = [c for c in candidates if c.suffix in {".yaml", ".yml"}]
    for candidate in candidates:
        if candidate.is_file():
            if confine is not None and not confine.allows(candidate):
                raise CompositionError(f"{where}: {file_part!r} lies outside the scene root")
            return candidate.resolve()
    raise CompositionError(
        f"{where}: cannot find {file_part!r} (looked in {base_dir} and the built-in scenes)"
    )


def _load_reference(
    reference: Any, base_dir: Path, where: str, stack: tuple[Path, ...], confine: Confinement | None = None
) -> tuple[Any, Path]:
    if not isinstance(reference, str) or not reference.split("#", 1)[0]:
        raise CompositionError(f"{where}: expected 'file.yaml' or 'file.yaml#key.path', got {reference!r}")
    path = _locate(reference, base_dir, where, confine)
    if path in stack:
        chain = " → ".join(str(p.name) for p in (*stack, path))
        raise CompositionError(f"{where}: circular reference {chain}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompositionError(f"{where}: cannot read {path} ({exc})") from None
    data = resolve(parse_yaml(text, str(path), confine), path.parent, str(path), (*stack, path), confine)
    _, _, key_path = reference.partition("#")
    for key in filter(None, key_path.split(".")):
        if not isinstance(data, dict) or key not in data:
            raise CompositionError(f"{where}: {path.name} has no key path {key_path!r}")
        data = data[key]
    return data, path


def _splice(
    node: Any,
    base_dir: Path,
    where: str,
    stack: tuple[Path, ...],
    confine: Confinement | None = None,
    source: str = "",
) -> Any:
    """Replace every `{include: ref, ...}` below `node` by the part merged with its siblings; errors
    name `source` (the file holding `node`) and the key path in it."""
    if isinstance(node, list):
        return [
            _splice(item, base_dir, f"{where}[{i}]", stack, confine, source) for i, item in enumerate(node)
        ]
    if not isinstance(node, dict):
        return node
    spliced = {
        k: _splice(v, base_dir, f"{where}.{k}" if where else str(k), stack, confine, source)
        for k, v in node.items()
    }
    if "include" not in spliced:
        return spliced
    where = f"{source + ': ' if source else ''}{where or 'top level'}.include"
    part, path = _load_reference(spliced.pop("include"), base_dir, where, stack, confine)
    if not spliced:
        return part  # a list or a number is included as it is
    if not isinstance(part, dict):
        raise CompositionError(
            f"{where}: {path.name} gives a {type(part).__name__}, which cannot take the keys beside "
            f"the include ({', '.join(map(str, spliced))}); include a mapping, or drop those keys"
        )
    return deep_merge(part, spliced)


def anchor_asset_paths(
    node: Any, base_dir: Path, confine: Confinement | None = None, source: str = "", where: str = ""
) -> None:
    """Make every relative asset path below `node` (a `path` key: the mesh files) absolute, from
    `base_dir`; with `confine`, refuse one that is not text or that lands outside its root.

    Why: a path is written relative to the file that holds it. Anchored per file before merging, a
    scene that extends or includes another file's mesh group, or just its params, still finds that
    file's meshes, even where the mapping that holds the path does not say `generator: mesh_file`.
    The confinement check runs on the anchored path with symlinks resolved (so `../meshes/x.stl`
    from a subfolder of the root is fine), and on every path, as written: YAML `!!binary` bytes
    would otherwise pass as "not a path" here and be read as one by the schema. A mapping or list
    under `path` is walked instead (a surface or group may be named `path`). Errors name `source`
    (the file holding `node`) and the key path in it.
    """
    if isinstance(node, list):
        for i, item in enumerate(node):
            anchor_asset_paths(item, base_dir, confine, source, f"{where}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if key != "path" or isinstance(value, dict | list):
                anchor_asset_paths(value, base_dir, confine, source, here)
            elif isinstance(value, str):
                node[key] = _anchored(value, base_dir, confine, f"{source}: {here}")
            elif confine is not None:
                raise CompositionError(
                    f"{source}: {here}: expected a file path as text, got {type(value).__name__}"
                )


def _anchored(value: str, base_dir: Path, confine: Confinement | None, where: str) -> str:
    """`value` as an absolute path (from `base_dir` if relative), checked against `confine`."""
    try:
        target = (base_dir / value).resolve()  # `base_dir / value` is `value` when that is absolute
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a symlink loop
        raise CompositionError(f"{where}: {value!r} is not a usable file path ({exc})") from None
    if confine is not None and not target.is_relative_to(confine.root):
        raise CompositionError(f"{where}: path {value!r} lies outside the data root")
    return value if Path(value).is_absolute() else str(target)


def resolve(
    data: Any, base_dir: Path, source: str, stack: tuple[Path, ...] = (), confine: Confinement | None = None
) -> Any:
    """Resolve `include:` everywhere and a top-level `extends:` (recursively, cycles refused); each
    file's asset paths are anchored to its own folder (`base_dir` for `data`).

    `confine` (untrusted text): references stay below its root or among the built-in scenes, asset
    paths below its root.
    """
    data = _splice(data, base_dir, "", stack, confine, source)
    anchor_asset_paths(data, base_dir, confine, source)
    if not isinstance(data, dict) or "extends" not in data:
        return data
    parents = data.pop("extends")
    merged: Any = {}
    for parent in parents if isinstance(parents, list) else [parents]:
        loaded, _ = _load_reference(parent, base_dir, f"{source}: extends", stack, confine)
        if not isinstance(loaded, dict):
            raise CompositionError(f"{source}: extends {parent!r}: expected a mapping of scene rules")
        merged = deep_merge(merged, loaded)
    return deep_merge(merged, data)
