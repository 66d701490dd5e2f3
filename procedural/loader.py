"""Load a scene file, apply `--set key.path=value` overrides, validate, and explain failures plainly.

Every failure becomes a `SceneRuleError` whose message names the file, the key path, the bad value
and what was expected: artists edit these files by hand, and a pydantic or YAML traceback is not
an answer they can act on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from scenesmith.procedural.composition import (
    CompositionError,
    Confinement,
    anchor_asset_paths,
    builtin_dir,
    parse_yaml,
    resolve,
)
from scenesmith.procedural.generators.mesh_file import IDENTITY_DIR
from scenesmith.procedural.rules import UNION_TAGS, SceneRules


class SceneRuleError(ValueError):
    """Bad scene input (file, YAML, key, type, range or override). The CLI exits 2 on it."""


@dataclass(frozen=True)
class LoadedScene:
    """Validated rules plus where they came from (for manifests and dataset identity)."""

    rules: SceneRules
    source: str  # path or "builtin:<name>"
    text: str  # the file's text, before overrides
    overrides: tuple[str, ...]
    base_dir: Path  # where the scene's own relative paths start: its file's folder (root for request text)

    @property
    def canonical_json(self) -> str:
        """Rules after overrides, as sorted JSON: the content that defines the dataset.

        A mesh file enters as where it lies from `base_dir` and the sha256 of its bytes, not as its
        absolute path: the same project in another folder is the same dataset, an overwritten file
        a new one. Rules without mesh files, their groups, surfaces and lamps in sorted order, dump
        exactly as the plain rules.
        """
        try:
            rules = self.rules.model_dump(mode="json", context={IDENTITY_DIR: self.base_dir})
        except PydanticSerializationError as exc:  # a mesh file gone since the rules were loaded
            raise SceneRuleError(f"{self.source}: cannot hash the rules: {exc}") from None
        if order := build_order(rules):
            rules[BUILD_ORDER_KEY] = order
        return json.dumps(rules, sort_keys=True, separators=(",", ":"))

    @property
    def rules_hash(self) -> str:
        return hashlib.sha256(self.canonical_json.encode()).hexdigest()

    @property
    def file_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


# Mappings whose order is the build order: groups are placed, lamps and surfaces drawn, and instance
# ids given in file order, so the same entries in another order make another dataset.
ORDERED_MAPPINGS = (("surfaces",), ("lighting", "lights"), ("objects",))
BUILD_ORDER_KEY = "_build_order"  # no rule key starts with "_"


def build_order(rules: dict[str, Any]) -> dict[str, list[str]]:
    """The order of each order-bearing mapping of dumped rules that is not in sorted order.

    The canonical dump sorts keys, so it alone cannot tell `objects: {a, b}` from `{b, a}`. Sorted
    mappings add nothing: rules written in sorted order keep the identity they always had (and
    their datasets their cache names); any other order is spelled out, so the identity differs.
    """
    order = {}
    for path in ORDERED_MAPPINGS:
        node: Any = rules
        for key in path:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        names = list(node)
        if names != sorted(names):
            order[".".join(path)] = names
    return order


def builtin_scenes() -> dict[str, str]:
    """Built-in scene name → first line of its description."""
    found = {}
    for entry in sorted(builtin_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text()) or {}
            found[entry.name[: -len(".yaml")]] = str(data.get("description", "")).strip().split("\n")[0]
    return found


def _read_scene_text(scene: str) -> tuple[str, str, Path]:
    """(text, source name for messages, the file's path) of a scene file or built-in name."""
    path = Path(scene)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise SceneRuleError(f"{scene}: scene file not found")
        try:
            return path.read_text(encoding="utf-8"), str(path), path.resolve()
        except (OSError, UnicodeDecodeError) as exc:
            raise SceneRuleError(f"{scene}: cannot read scene file ({exc})") from None
    candidate = builtin_dir() / f"{scene}.yaml"
    if not candidate.is_file():
        names = ", ".join(builtin_scenes()) or "none"
        raise SceneRuleError(f"{scene}: not a scene file and not a built-in scene (built-ins: {names})")
    return candidate.read_text(encoding="utf-8"), f"builtin:{scene}", candidate.resolve()


def parse_override(override: str, confine: Confinement | None = None) -> tuple[list[str], Any]:
    """'a.b.0.c=value' → (['a', 'b', '0', 'c'], YAML-parsed value); `confine`: aliases limited."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise SceneRuleError(f"--set {override!r}: expected key.path=value (e.g. objects.dice.count=5)")
    shown = override if confine is None else override[:80]  # text from a request may be long
    try:
        value = parse_yaml(raw, f"--set {shown!r}", confine) if raw.strip() else ""
    except CompositionError as exc:
        raise SceneRuleError(str(exc)) from None
    return key.strip().split("."), value


def apply_override(data: Any, path: list[str], value: Any, override: str) -> None:
    """Set `value` at `path`, making the mappings on the way.

    A mapping the file left out starts from the schema's default for it, so `--set` can change one
    key of a nested default (e.g. a shelf's `tag_material.roughness`) without restating the rest.
    """
    node = data
    types_here: list[Any] = [SceneRules]
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(path[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SceneRuleError(f"--set {override!r}: {where}: no list item {part} (length {len(node)})")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            models = _narrow_to_tag(types_here, node)
            if last:
                node[part] = value
            else:
                if part not in node:
                    node[part] = _default_mapping(models, part, path[depth + 1])
                node = node[part]
            types_here = models
        else:
            raise SceneRuleError(f"--set {override!r}: {where}: the value there is not a mapping or list")
        types_here = _child_types(types_here, part)


def _narrow_to_tag(candidates: list[Any], node: dict[str, Any]) -> list[Any]:
    """The types that can hold `node`: a tagged union's members narrowed by the tag the node carries."""
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) < 2:
        return candidates
    tagged = [
        m
        for m in models
        if any(t in node and _literal_is(m.model_fields.get(t), node[t]) for t in UNION_TAGS)
    ]
    return [c for c in candidates if c not in models] + tagged


def _default_mapping(candidates: list[Any], key: str, next_key: str) -> dict[str, Any] | list[Any]:
    """The schema default of a nested rule `key` as plain data, or {} where there is none.

    A default that is plain data already (a distribution such as `{uniform: [0.01, 0.02]}`) is copied
    when the override goes on into it (`--set ...gap_m.uniform.1=0.03` edits its list), and not when it
    names another key (`gap_m.choice.values=[...]` gives a choice, not a uniform that also has one).
    """
    fields = [
        c.model_fields[key]
        for c in candidates
        if isinstance(c, type) and issubclass(c, BaseModel) and key in c.model_fields
    ]
    if len(fields) == 1:
        default = fields[0].get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            return default.model_dump(mode="json", exclude_unset=True)
        if isinstance(default, dict) and next_key in default:
            return copy.deepcopy(default)
        if isinstance(default, list | tuple) and next_key.isdigit() and int(next_key) < len(default):
            return copy.deepcopy(list(default))  # a tuple default (`target_m`) is edited as a list
    return {}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: Optional/Union/Annotated peeled off."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(annotation) if arg is not type(None) for alt in _unwrap(arg)]
    return [annotation]


def _walk(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None, list[Any]]:
    """Follow a pydantic error location through the schema.

    Returns the location without tagged-union tags (pydantic inserts the tag, e.g. 'die', into
    the path; an artist never wrote it), the rule class owning the last key, so an unknown key
    can be answered with the keys that are allowed there, and the types the last key may hold (a
    tagged union's members, whose tags answer a missing tag).
    """
    shown: list[Any] = []
    candidates: list[Any] = [SceneRules]
    owner: type[BaseModel] | None = None
    for part in loc:
        models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if len(models) > 1:  # tagged union: this part is the tag
            tagged = [m for m in models if any(_literal_is(m.model_fields.get(t), part) for t in UNION_TAGS)]
            if tagged:
                candidates = tagged
                continue
        shown.append(part)
        owner = models[0] if models else None
        candidates = _child_types(candidates, part)
    return tuple(shown), owner, candidates


def _child_types(candidates: list[Any], part: Any) -> list[Any]:
    """The types a key or index `part` may hold inside a value of one of the `candidates` types."""
    found: list[Any] = []
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            field = candidate.model_fields.get(str(part))
            if field is not None:
                found += _unwrap(field.annotation)
        elif typing.get_origin(candidate) in (list, dict, tuple):
            args = typing.get_args(candidate)
            if args:
                found += _unwrap(args[-1] if typing.get_origin(candidate) is not tuple else args[0])
    return found


def _literal_is(field: Any, value: Any) -> bool:
    return field is not None and value in typing.get_args(field.annotation)


def _explain(error: dict[str, Any]) -> str:
    loc, owner, candidates = _walk(tuple(error["loc"]))
    where = _format_loc(loc)
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        allowed = f"; allowed keys: {', '.join(owner.model_fields)}" if owner else ""
        return f"{where}: unknown key{allowed}"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(error.get("ctx", {}).get("discriminator", "kind")).strip("'")
        got = error.get("ctx", {}).get("tag")
        expected = error.get("ctx", {}).get("expected_tags") or ", ".join(
            repr(value)
            for model in candidates
            if isinstance(model, type) and issubclass(model, BaseModel) and tag in model.model_fields
            for value in typing.get_args(model.model_fields[tag].annotation)
        )
        what = f"unknown {tag} {got!r}" if got is not None else f"missing key '{tag}'"
        return f"{_format_loc((*loc, tag))}: {what}; expected one of {expected}"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    if loc and loc[-1] == "[key]" and error["type"] == "string_pattern_mismatch":  # a surface or group name
        where = _format_loc(loc[:-2])
        return f"{where}: name {value!r} may not hold a dot (it would read as a board or a key path)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if isinstance(value, dict):  # a whole-section check: its message already names the keys
        return message if not loc else f"{where}: {message}"
    if value is None:  # `key:` with nothing after it, or an unquoted '#' that began a comment
        expected = message.split(", got ")[0]
        return f"{where}: {expected}; got nothing (quote a colour: '#00ff00' unquoted is a comment)"
    if ", got " in message:  # the check already shows the value
        return f"{where}: {message}"
    shown = json.dumps(value, default=str) if len(str(value)) < 120 else "..."
    return f"{where}: {message} (got {shown})"


def load_scene(scene: str, overrides: list[str] | tuple[str, ...] = ()) -> LoadedScene:
    """Built-in name or path → validated rules. Raises SceneRuleError, never a library traceback."""
    text, source, path = _read_scene_text(scene)
    return _load(text, source, path.parent, (path,), overrides, None)


def load_scene_text(
    text: str,
    overrides: list[str] | tuple[str, ...],
    root: Path,
    source: str = "request",
    base_dir: Path | None = None,
) -> LoadedScene:
    """Scene YAML text from outside (an API request) → validated rules, with `load_scene`'s messages.

    The text is data only: `yaml.safe_load` semantics with aliases limited, `extends`/`include` and
    asset paths (`mesh_file` paths, any `path` key: text only) must stay below `root` (references may
    also name built-in scenes), and nothing is read from the working directory. `base_dir` (default
    `root`) is where the text's relative references and paths start, e.g. the built-in folder for a
    built-in scene's own text; a file it extends or includes starts its own from its folder, as on
    the command line, and a path an override gives starts from `root`.
    """
    root = Path(root).resolve()
    base = Path(base_dir).resolve() if base_dir is not None else root
    return _load(text, source, base, (), overrides, Confinement(root))


def _load(
    text: str,
    source: str,
    base_dir: Path,
    stack: tuple[Path, ...],
    overrides: list[str] | tuple[str, ...],
    confine: Confinement | None,
) -> LoadedScene:
    try:
        data = resolve(parse_yaml(text, source, confine), base_dir, source, stack, confine)
    except CompositionError as exc:
        raise SceneRuleError(str(exc)) from None
    if not isinstance(data, dict):
        raise SceneRuleError(
            f"{source}: expected a mapping of scene rules at the top level, got {type(data).__name__}"
        )
    for override in overrides:
        key_path, value = parse_override(override, confine)
        apply_override(data, key_path, value, override)
    # Paths from the files were anchored (and checked) in their own folders; a relative one left came
    # from an override. Checked again as a whole, before validation opens any mesh file.
    try:
        anchor_asset_paths(data, base_dir if confine is None else confine.root, confine, source)
    except CompositionError as exc:
        raise SceneRuleError(str(exc)) from None
    try:
        rules = SceneRules.model_validate(data)
    except ValidationError as exc:
        lines = [_explain(e) for e in exc.errors()]
        raise SceneRuleError(f"{source}: invalid scene rules:\n  " + "\n  ".join(lines)) from None
    return LoadedScene(rules=rules, source=source, text=text, overrides=tuple(overrides), base_dir=base_dir)
