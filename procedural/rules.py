"""The scene-rule schema (pydantic): what an artist may write in `scenes/*.yaml`, and nothing else.

Unknown keys are errors (a typo must not silently fall back to a default). Every numeric or choice
parameter is a `Distribution`, checked at load time against the range its generator can honour.
Object groups, surfaces, cameras and placements are tagged unions (`generator:`, `kind:`,
`method:`) over the registered plug-ins, so a new generator extends the schema by registering.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, model_validator

from scenesmith.procedural.camera import (
    OrbitCameraRule,
    SatelliteCameraRule,
    TopDownCameraRule,
    nearest_distance_m,
)
from scenesmith.procedural.composition import TAG_KEYS
from scenesmith.procedural.lighting import LightingRule
from scenesmith.procedural.params import Count, MaterialRule, Rule, ViewTransform, number
from scenesmith.procedural.registry import GENERATORS, PLACEMENTS, SURFACES, load_plugins
from scenesmith.procedural.sensor import SensorRule

load_plugins()

# Discriminator keys of the tagged unions, and the names they take (used to print key paths).
UNION_TAGS = TAG_KEYS  # the keys that pick a schema: composition merges them by the same rule


def tagged_union(models: list[type[Rule]], tag: str) -> Any:
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator=tag)]  # noqa: UP007 - runtime-built


class RenderRule(Rule):
    resolution: tuple[Annotated[int, Field(ge=8, le=8192)], Annotated[int, Field(ge=8, le=8192)]] = (640, 640)
    samples: Annotated[int, Field(ge=1, le=65536)] = 32
    # Cycles adaptive sampling: a pixel stops once its noise is below this (0 = off, all samples).
    adaptive_threshold: Annotated[float, Field(ge=0, le=1)] = 0.0
    denoise: bool = True
    view_transform: ViewTransform = "Standard"
    exposure: Annotated[float, Field(ge=-10, le=10)] = 0.0


class PaletteEntry(Rule):
    """One look for a group's objects: a material per slot (e.g. body + pips), drawn by weight."""

    weight: Annotated[float, Field(gt=0)] = 1.0
    materials: dict[str, MaterialRule]


PlacementRule = tagged_union([spec.rule for spec in PLACEMENTS.values()], "method")


class ObjectGroupBase(Rule):
    """Common keys of every object group; `generator` and `params` come from the generator."""

    count: Count
    # Fixed category of every object; None = the generator decides (e.g. dice), or unlabelled.
    category: str | None = None
    density_kg_m3: number(minimum=1, maximum=30000) = 1000.0
    palette: Annotated[list[PaletteEntry], Field(min_length=1)]
    placement: PlacementRule

    @model_validator(mode="after")
    def _palette_covers_slots(self) -> ObjectGroupBase:
        slots = set(GENERATORS[self.generator].slots)  # type: ignore[attr-defined]
        for index, entry in enumerate(self.palette):
            given = set(entry.materials)
            if given != slots:
                missing, extra = sorted(slots - given), sorted(given - slots)
                raise ValueError(
                    f"palette[{index}].materials must give exactly the slots {sorted(slots)} of generator "
                    f"{self.generator!r}"  # type: ignore[attr-defined]
                    + (f"; missing {missing}" if missing else "")
                    + (f"; unknown {extra}" if extra else "")
                )
        return self


def _group_model(name: str) -> type[Rule]:
    spec = GENERATORS[name]
    required = any(f.is_required() for f in spec.params.model_fields.values())
    return create_model(
        f"{name.title().replace('_', '')}Group",
        __base__=ObjectGroupBase,
        __doc__=(spec.make.__doc__ or f"Objects made by the {name!r} generator."),
        generator=(Literal[name], ...),
        params=(spec.params, ... if required else spec.params()),
    )


ObjectGroupRule = tagged_union([_group_model(name) for name in sorted(GENERATORS)], "generator")
SurfaceRule = tagged_union([spec.rule for spec in SURFACES.values()], "kind")
CameraRule = tagged_union([TopDownCameraRule, OrbitCameraRule, SatelliteCameraRule], "kind")


class CategoryRule(Rule):
    id: Annotated[int, Field(ge=1, le=255)]
    name: Annotated[str, Field(min_length=1)]


# A surface or group name: no dots, since `shelf.0` names a board and `--set a.b` a key path.
Name = Annotated[str, Field(min_length=1, pattern=r"^[^.]+$")]
# Annotation ids are image_id * 1000 + instance id (FORMAT.md), so instance ids stop at 999.
MAX_OBJECTS_PER_IMAGE = 999


class SceneRules(Rule):
    """A whole scene file."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")]
    description: str = ""
    categories: Annotated[list[CategoryRule], Field(min_length=1)]
    render: RenderRule = RenderRule()
    camera: CameraRule
    lighting: LightingRule = LightingRule()
    sensor: SensorRule = SensorRule()
    surfaces: dict[Name, SurfaceRule] = {}
    objects: Annotated[dict[Name, ObjectGroupRule], Field(min_length=1)]

    @model_validator(mode="after")
    def _references_resolve(self) -> SceneRules:
        ids = [c.id for c in self.categories]
        names = {c.name for c in self.categories}
        if len(set(ids)) != len(ids) or len(names) != len(ids):
            raise ValueError("categories: ids and names must be unique")
        for group_name, group in self.objects.items():
            where = f"objects.{group_name}"
            if group.category is not None and group.category not in names:
                raise ValueError(
                    f"{where}.category {group.category!r} is not one of the categories {sorted(names)}"
                )
            spec = GENERATORS[group.generator]
            decided = spec.categories_of(group.params)
            missing = sorted(set(decided or ()) - names)
            # A class that follows the params (a lathed object's shape) may leave every one of them
            # unlisted: the whole group is then unlabelled clutter. Some listed and some not is a slip,
            # and so is none for a generator whose categories function says so (aircraft size classes).
            may_be_clutter = getattr(spec.categories, "unlisted_is_clutter", callable(spec.categories))
            clutter = may_be_clutter and len(missing) == len(set(decided or ()))
            if group.category is None and missing and not clutter:
                also = (
                    " (or list none of them: the group is then unlabelled clutter)" if may_be_clutter else ""
                )
                raise ValueError(
                    f"{where}: generator {group.generator!r} labels objects {list(decided)}; "
                    f"add the missing ones to categories: {missing}{also}"
                )
            for support in group.placement.support:
                problem = _support_problem(support, self.surfaces, group.placement.method)
                if problem:
                    raise ValueError(f"{where}.placement.support: {support!r} {problem}")
        most = {name: int(group.count.support()[1]) for name, group in self.objects.items()}
        if sum(most.values()) > MAX_OBJECTS_PER_IMAGE:
            counts = ", ".join(f"{name} {n}" for name, n in most.items())
            raise ValueError(
                f"objects: the counts can add up to {sum(most.values())} objects in one image ({counts}); "
                f"an image holds at most {MAX_OBJECTS_PER_IMAGE}"
            )
        return self

    @model_validator(mode="after")
    def _focus_in_front_of_the_camera(self) -> SceneRules:
        """The focus lies `focus_offset_m` beyond the target; an offset that can reach back to the
        camera focuses behind it, which only the renderer noticed, per image and naming no key."""
        focus = self.camera.depth_of_field
        if focus is None:
            return self
        nearest = nearest_distance_m(self.camera, self.render.resolution[0])
        offset = focus.focus_offset_m.support()[0]
        if nearest + offset <= 0:
            unbounded = "; a normal distribution is unbounded, use truncnormal" if math.isinf(offset) else ""
            raise ValueError(
                f"camera.depth_of_field.focus_offset_m: down to {offset:g} can put the focus at or behind "
                f"the camera (the focus is the distance to the target, as little as {nearest:g} m, plus "
                f"the offset); expected focus_offset_m > -{nearest:g} at every draw{unbounded}"
            )
        return self


# Placement methods that rest each object on the support's plane (z = 0 in its frame).
FLAT_SUPPORT_METHODS = ("pack", "edge")


def _support_problem(name: str, surfaces: dict[str, Any], method: str) -> str | None:
    """Why `name` names no support a placement can use, or None. A surface publishes one support
    under its own name, except a shelf: its boards are `<shelf>.0`, `<shelf>.1`, … up to one less
    than the most boards it can have, and only `shelf_rows` takes the shelf's name for all of them
    (another method, or a board no draw builds, would find nothing and silently place no object)."""
    surface, dot, board = name.partition(".")
    if surface not in surfaces:
        return f"is not a surface of this scene (surfaces: {sorted(surfaces)})"
    shelf = getattr(surfaces[surface], "kind", None) == "shelf"
    if dot and not (shelf and board.isascii() and board.isdigit()):
        hint = f"its boards are {surface}.0, {surface}.1, …" if shelf else f"name it {surface!r}"
        return f"is not a support: {surface!r} publishes {'boards' if shelf else 'one support'}; {hint}"
    if dot:
        most = int(surfaces[surface].boards.support()[1])
        if int(board) >= most or board != str(int(board)):  # `shelf.05` names no board either
            return (
                f"is not a board: {surface!r} has at most {most} boards (surfaces.{surface}.boards), "
                f"{surface}.0 to {surface}.{most - 1}"
            )
    if dot and method == "physics":
        return (
            f"is a shelf board: physics drops objects from above it, through the boards over it, and they "
            f"settle on whichever board they reach; place them with shelf_rows (on {surface!r}) or pack"
        )
    if not dot and shelf and method != "shelf_rows":
        return f"is a shelf: name one of its boards ({surface}.0, {surface}.1, …), or place with shelf_rows"
    if getattr(surfaces[surface], "kind", None) == "field" and method in FLAT_SUPPORT_METHODS:
        return (
            f"is a field, whose soil has relief: {method} rests objects on a flat plane, so they would float "
            "or sink; place them with rows or physics, which follow the soil"
        )
    return None
