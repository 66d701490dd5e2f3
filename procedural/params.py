"""Building blocks of the scene-rule schema, shared by the scene file and every generator's params.

A generator's parameters are a `Rule` subclass whose numeric fields use the sampled types below, so
each generator validates its own keys (unknown keys are errors) and ranges at load time, and draws
its values with the rng it is given (Infinigen-style: a generator is a pure function of params and
its own rng).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from scenesmith.procedural.colors import parse_color
from scenesmith.procedural.description import PATTERNS
from scenesmith.procedural.distributions import Distribution, parse_choice, parse_number


def number(*, integer: bool = False, minimum: float | None = None, maximum: float | None = None) -> Any:
    """Annotated type for a sampled number (constant or distribution) with an allowed range."""
    return Annotated[
        Distribution,
        PlainValidator(lambda v: parse_number(v, integer=integer, minimum=minimum, maximum=maximum)),
        PlainSerializer(lambda d: d.describe()),
    ]


def choice_of(*values: str) -> Any:
    """Annotated type for a categorical value (constant or {choice: ...}) among `values`."""

    def check(value: Any) -> str:
        if value not in values:
            raise ValueError(f"expected one of {list(values)}, got {value!r}")
        return value

    return Annotated[
        Distribution,
        PlainValidator(lambda v: parse_choice(v, check)),
        PlainSerializer(lambda d: d.describe()),
    ]


Length = number(minimum=0.0)  # metres
PositiveLength = number(minimum=1e-6)
Fraction = number(minimum=0.0, maximum=1.0)
Probability = Fraction
Angle = number()  # degrees, any real (wraps)
Count = number(integer=True, minimum=0, maximum=500)
# Candidate supports of a placement, first present wins: none at all would place nothing, silently.
Supports = Annotated[list[str], Field(min_length=1)]
# Random candidate positions tried per object: 0 would place nothing, and each costs memory.
Attempts = Annotated[int, Field(ge=1, le=10_000)]
Color = Annotated[
    Distribution,
    PlainValidator(lambda v: parse_choice(v, parse_color)),
    PlainSerializer(lambda d: d.describe()),
]


class Rule(BaseModel):
    """Base of every rule: unknown keys are errors; defaults are validated like user values."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


class MaterialRule(Rule):
    """A procedural PBR material family. Colours are sRGB ('#rrggbb' or [r, g, b] in 0..1)."""

    color: Color
    hue_jitter_deg: number(minimum=0, maximum=180) = 0.0
    saturation_scale: number(minimum=0, maximum=4) = 1.0
    value_scale: number(minimum=0, maximum=4) = 1.0
    roughness: Fraction = 0.5
    metallic: Fraction = 0.0
    specular: Fraction = 0.5
    transmission: Fraction = 0.0
    coat: Fraction = 0.0
    pattern: choice_of(*PATTERNS) = "marble"
    pattern_strength: Fraction = 0.0
    pattern_scale: number(minimum=0.01, maximum=10000) = 30.0
    secondary_color: Color = "#ffffff"
    dirt: Fraction = 0.0
    wear: Fraction = 0.0


class Placed(Rule):
    """Where a surface sits in the world (its origin on the ground plane, z up)."""

    position_m: tuple[number(), number(), number()] = (0.0, 0.0, 0.0)
    yaw_deg: Angle = 0.0


ViewTransform = Literal["Standard", "AgX", "Filmic", "Khronos PBR Neutral"]
