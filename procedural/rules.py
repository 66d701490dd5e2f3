"""The scene-rule schema (pydantic): what an artist may write in `scenes/*.yaml`, and nothing else.

Unknown keys are errors (a typo must not silently fall back to a default). Every numeric or choice
parameter is a `Distribution` (see `distributions.py`), checked at load time against the range
the generator can honour, so an impossible range fails before anything is rendered.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, model_validator

from scenesmith.procedural.colors import parse_color
from scenesmith.procedural.distributions import Distribution, parse_choice, parse_number


def _number(*, integer: bool = False, minimum: float | None = None, maximum: float | None = None) -> Any:
    """Annotated type for a sampled number with an allowed range."""
    return Annotated[
        Distribution,
        PlainValidator(lambda v: parse_number(v, integer=integer, minimum=minimum, maximum=maximum)),
        PlainSerializer(lambda d: d.describe()),
    ]


Length = _number(minimum=0.0)  # metres
PositiveLength = _number(minimum=1e-6)
Fraction = _number(minimum=0.0, maximum=1.0)
Probability = Fraction
Angle = _number()  # degrees, any real (wraps)
Count = _number(integer=True, minimum=0, maximum=500)
Color = Annotated[
    Distribution,
    PlainValidator(lambda v: parse_choice(v, parse_color)),
    PlainSerializer(lambda d: d.describe()),
]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class MaterialRule(Rule):
    """A procedural PBR material family. Colours are sRGB ('#rrggbb' or [r, g, b] in 0..1)."""

    color: Color
    hue_jitter_deg: _number(minimum=0, maximum=180) = 0.0
    saturation_scale: _number(minimum=0, maximum=4) = 1.0
    value_scale: _number(minimum=0, maximum=4) = 1.0
    roughness: Fraction = 0.5
    metallic: Fraction = 0.0
    specular: Fraction = 0.5
    transmission: Fraction = 0.0
    coat: Fraction = 0.0
    pattern_strength: Fraction = 0.0
    pattern_scale: _number(minimum=0.01, maximum=10000) = 30.0
    secondary_color: Color = "#ffffff"


class RenderRule(Rule):
    resolution: tuple[Annotated[int, Field(ge=8, le=8192)], Annotated[int, Field(ge=8, le=8192)]] = (640, 640)
    samples: Annotated[int, Field(ge=1, le=65536)] = 32
    denoise: bool = True
    view_transform: Literal["Standard", "AgX", "Filmic", "Khronos PBR Neutral"] = "Standard"
    exposure: Annotated[float, Field(ge=-10, le=10)] = 0.0


class TopDownCameraRule(Rule):
    """A hand-held phone over a surface: mostly top-down, with tilt, roll and framing jitter."""

    kind: Literal["top_down"] = "top_down"
    height_m: PositiveLength
    horizontal_fov_deg: _number(minimum=1, maximum=170)
    tilt_deg: _number(minimum=0, maximum=80) = 0.0
    tilt_azimuth_deg: Angle = 0.0
    roll_deg: Angle = 0.0
    target_jitter_m: Length = 0.0


class AmbientRule(Rule):
    color: Color = "#ffffff"
    strength: _number(minimum=0, maximum=1000) = 0.5


class AreaLightRule(Rule):
    """A soft overhead light (ceiling panel, window): placed above the scene, aimed at its centre."""

    kind: Literal["area", "point"] = "area"
    power_w: _number(minimum=0, maximum=1e6)
    height_m: PositiveLength
    offset_m: Length = 0.0
    size_m: PositiveLength = 0.5
    color_temperature_k: _number(minimum=1000, maximum=20000) = 5500.0


class LightingRule(Rule):
    ambient: AmbientRule = AmbientRule()
    lights: dict[str, AreaLightRule] = Field(default_factory=dict)


class TableRule(Rule):
    size_m: PositiveLength = 1.5
    material: MaterialRule


class TrayRule(Rule):
    """A rectangular tray (floor + four walls) lying on the table; present with `probability`."""

    probability: Probability = 1.0
    inner_width_m: PositiveLength
    inner_depth_m: PositiveLength
    wall_height_m: PositiveLength = 0.03
    wall_thickness_m: PositiveLength = 0.008
    floor_thickness_m: PositiveLength = 0.004
    floor_material: MaterialRule
    wall_material: MaterialRule


class SurfacesRule(Rule):
    table: TableRule
    tray: TrayRule | None = None


class PlacementRule(Rule):
    """2D packing on a support surface (analytic rest poses; no interpenetration)."""

    support: Literal["tray_or_table", "table"] = "tray_or_table"
    margin_m: Length = 0.002
    min_gap_m: Length = 0.001
    # How much of the camera's view (around its target) objects may use when there is no tray.
    table_extent_fraction: _number(minimum=0.05, maximum=1.0) = 0.8


class DiePaletteEntry(Rule):
    weight: Annotated[float, Field(gt=0)] = 1.0
    body: MaterialRule
    pips: MaterialRule


class DieGroupRule(Rule):
    """Six-sided dice with rounded edges and geometric pips; class = pips on the top face."""

    generator: Literal["die"]
    count: Count
    size_m: _number(minimum=0.001, maximum=1.0)
    corner_radius: _number(minimum=0.0, maximum=0.12) = 0.08  # fraction of the edge length
    pip_radius: _number(minimum=0.03, maximum=0.1) = 0.085  # fraction of the edge length
    top_face: _number(integer=True, minimum=1, maximum=6) = {"randint": [1, 6]}
    density_kg_m3: _number(minimum=1, maximum=30000) = 1180.0
    palette: Annotated[list[DiePaletteEntry], Field(min_length=1)]
    placement: PlacementRule = PlacementRule()


class CategoryRule(Rule):
    id: Annotated[int, Field(ge=1, le=10_000)]
    name: Annotated[str, Field(min_length=1)]


class SceneRules(Rule):
    """A whole scene file."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")]
    description: str = ""
    categories: Annotated[list[CategoryRule], Field(min_length=1)]
    render: RenderRule = RenderRule()
    camera: TopDownCameraRule
    lighting: LightingRule = LightingRule()
    surfaces: SurfacesRule
    objects: Annotated[dict[str, DieGroupRule], Field(min_length=1)]

    @model_validator(mode="after")
    def _categories_unique(self) -> SceneRules:
        ids = [c.id for c in self.categories]
        names = [c.name for c in self.categories]
        if len(set(ids)) != len(ids) or len(set(names)) != len(names):
            raise ValueError("category ids and names must be unique")
        for group_name, group in self.objects.items():
            if group.generator == "die" and not {c.id for c in self.categories} >= set(range(1, 7)):
                raise ValueError(f"objects.{group_name} makes dice, so categories must define ids 1..6")
        return self
