"""Principled-BSDF materials from `Material`: patterns, dirt, wear and image textures. Imports bpy.

The colour reaching `Base Color` is built as a chain, each stage only present when used, so a plain
material stays a bare Principled BSDF (and renders exactly as before these features existed):

    base_color | image texture (UV)  →  pattern mix  →  dirt  →  wear  →  Base Color

Procedural stages use *Object* texture coordinates (metres in the object's own frame), so patterns
stick to the object whatever its pose, and `pattern_scale` is a spatial frequency in cycles per metre.
"""

from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np

from scenesmith.procedural.description import Material

# Marble: fine noise detail plus strong domain distortion gives veining rather than blobs.
NOISE_DETAIL = 6.0
NOISE_DISTORTION = 2.0
# Swirl: the same distorted noise, but only a thin band around one level set takes the secondary
# colour at full strength (sharp, contrasting veins, like swirled acrylic dice). Half-width of the
# band in noise units, and the inner fraction of it that is solid.
SWIRL_HALF_WIDTH = 0.04
SWIRL_SOLID = 0.4
# Cycles' Wave texture uses phase n = 20·(scale·x), i.e. 20/(2π) cycles per unit of `Scale`;
# multiplying cycles-per-metre by this factor gives the node's Scale.
WAVE_SCALE_PER_CYCLE = 2.0 * math.pi / 20.0
# Wood: wave phase wobble (radians of ring phase) from fractal noise, so rings are not perfect circles.
WOOD_DISTORTION = 4.0
# Speckle: points within this distance (cell units) of a Voronoi feature point form a dot; with
# one point per unit cube this covers 1 − exp(−4/3·π·r³) ≈ 16 % of the surface.
SPECKLE_RADIUS = 0.35
# Dirt: grime colour (linear RGB, dark brownish grey) in a low-frequency mask (cycles per metre).
GRIME_COLOR = (0.06, 0.05, 0.035, 1.0)
DIRT_SCALE = 8.0
# Wear: convex-edge width (m) probed by inside-AO rays, and scuff frequency (cycles per metre).
WEAR_EDGE_WIDTH = 0.004
WEAR_AO_SAMPLES = 8
SCUFF_SCALE = 60.0


def _socket(sockets: Any, identifier: str) -> Any:
    """Socket by stable identifier (names repeat on multi-type nodes such as Mix)."""
    for s in sockets:
        if s.identifier == identifier:
            return s
    raise KeyError(f"no socket {identifier!r} in {[s.identifier for s in sockets]}")


class _Graph:
    """Thin helper over a node tree: create nodes with inputs/properties and link sockets."""

    def __init__(self, nt: bpy.types.NodeTree) -> None:
        self.nt = nt
        self._coord: Any = None

    def node(self, idname: str, props: dict[str, Any] | None = None, **inputs: Any) -> Any:
        n = self.nt.nodes.new(idname)
        for k, v in (props or {}).items():
            setattr(n, k, v)
        for k, v in inputs.items():
            n.inputs[k.replace("_", " ")].default_value = v
        return n

    def link(self, out: Any, inp: Any) -> None:
        self.nt.links.new(out, inp)

    def feed(self, value: Any, inp: Any) -> None:
        """Drive `inp` from a socket, or set it to a constant (float or RGBA tuple)."""
        if isinstance(value, tuple | float):
            inp.default_value = value
        else:
            self.link(value, inp)

    def coords(self, kind: str) -> Any:
        """A (shared) Texture Coordinate output, e.g. 'Object' or 'UV'."""
        if self._coord is None:
            self._coord = self.node("ShaderNodeTexCoord")
        return self._coord.outputs[kind]

    def map_range(self, value: Any, lo: float, hi: float) -> Any:
        """Clamped linear map of `value` from [lo, hi] to [0, 1] (lo > hi inverts)."""
        n = self.node("ShaderNodeMapRange", From_Min=lo, From_Max=hi, To_Min=0.0, To_Max=1.0)
        n.clamp = True
        self.link(value, n.inputs["Value"])
        return n.outputs["Result"]

    def math(self, op: str, a: Any, b: float, clamp: bool = False) -> Any:
        n = self.node("ShaderNodeMath", {"operation": op, "use_clamp": clamp})
        self.link(a, n.inputs[0])
        n.inputs[1].default_value = b
        return n.outputs[0]

    def mix_color(self, fac: Any, a: Any, b: Any) -> Any:
        """RGBA mix; `a`/`b` are sockets or RGBA tuples."""
        n = self.node("ShaderNodeMix", {"data_type": "RGBA"})
        self.link(fac, _socket(n.inputs, "Factor_Float"))
        self.feed(a, _socket(n.inputs, "A_Color"))
        self.feed(b, _socket(n.inputs, "B_Color"))
        return _socket(n.outputs, "Result_Color")

    def mix_float(self, fac: Any, a: Any, b: float) -> Any:
        n = self.node("ShaderNodeMix", {"data_type": "FLOAT"})
        self.link(fac, _socket(n.inputs, "Factor_Float"))
        self.feed(a, _socket(n.inputs, "A_Float"))
        _socket(n.inputs, "B_Float").default_value = b
        return _socket(n.outputs, "Result_Float")


def _distorted_noise(g: _Graph, scale: float) -> Any:
    """Marble's noise factor (≈ 0.5 on average): the veined field that marble and swirl both read."""
    n = g.node("ShaderNodeTexNoise", Scale=scale, Detail=NOISE_DETAIL, Distortion=NOISE_DISTORTION)
    g.link(g.coords("Object"), n.inputs["Vector"])
    return n.outputs["Fac"]


def _pattern_factor(g: _Graph, pattern: str, scale: float) -> Any:
    """0..1 factor socket for `pattern` at `scale` cycles per metre (object space)."""
    co = g.coords("Object")
    if pattern == "marble":
        return _distorted_noise(g, scale)
    if pattern == "swirl":
        offset = g.math("ABSOLUTE", g.math("SUBTRACT", _distorted_noise(g, scale), 0.5), 0.0)
        return g.map_range(offset, SWIRL_HALF_WIDTH, SWIRL_HALF_WIDTH * SWIRL_SOLID)
    if pattern == "noise":
        n = g.node("ShaderNodeTexNoise", Scale=scale, Detail=2.0, Distortion=0.0)
        g.link(co, n.inputs["Vector"])
        # Noise factors cluster around 0.5; stretching 0.3..0.7 gives soft but visible blotches.
        return g.map_range(n.outputs["Fac"], 0.3, 0.7)
    if pattern == "speckle":
        n = g.node("ShaderNodeTexVoronoi", {"feature": "F1", "distance": "EUCLIDEAN"}, Scale=scale)
        g.link(co, n.inputs["Vector"])
        # Distance to the nearest feature point below the radius → a dot with a thin soft rim.
        return g.map_range(n.outputs["Distance"], SPECKLE_RADIUS, SPECKLE_RADIUS * 0.7)
    if pattern == "wood":
        # Rings around the object's X axis: long grain along X on faces parallel to it.
        n = g.node(
            "ShaderNodeTexWave",
            {"wave_type": "RINGS", "rings_direction": "X", "wave_profile": "SIN"},
            Scale=scale * WAVE_SCALE_PER_CYCLE,
            Distortion=WOOD_DISTORTION,
            Detail=3.0,
        )
        g.link(co, n.inputs["Vector"])
        return n.outputs["Fac"]
    if pattern == "stripes":
        n = g.node(
            "ShaderNodeTexWave",
            {"wave_type": "BANDS", "bands_direction": "X", "wave_profile": "SIN"},
            Scale=scale * WAVE_SCALE_PER_CYCLE,
            Distortion=0.0,
        )
        g.link(co, n.inputs["Vector"])
        # Threshold the sine at 0.5 with a narrow ramp: sharp painted bands, 50 % duty cycle.
        return g.map_range(n.outputs["Fac"], 0.45, 0.55)
    raise ValueError(f"unknown pattern {pattern!r}")


def _dirt(g: _Graph, color: Any, rough: Any, dirt: float) -> tuple[Any, Any]:
    """Grime in a low-frequency mask: coverage and opacity grow with `dirt`; rougher where dirty."""
    n = g.node("ShaderNodeTexNoise", Scale=DIRT_SCALE, Detail=4.0, Distortion=0.5)
    g.link(g.coords("Object"), n.inputs["Vector"])
    lo = 0.62 - 0.3 * dirt  # more dirt → lower threshold → larger covered area
    mask = g.math("MULTIPLY", g.map_range(n.outputs["Fac"], lo, lo + 0.15), 0.5 + 0.45 * dirt)
    color = g.mix_color(mask, color, GRIME_COLOR)
    rough = g.mix_float(mask, rough, 1.0)
    return color, rough


def _wear(g: _Graph, color: Any, wear: float) -> Any:
    """Lighter, desaturated scuffs: strongest on convex edges, plus sparse scratches on faces.

    Convex edges come from Ambient Occlusion with `inside` (rays cast into the object's own mesh
    hit the neighbouring face only near a convex edge): 1 − AO is an edge mask of width
    WEAR_EDGE_WIDTH that works on any mesh density in Cycles (Pointiness needs dense meshes).
    """
    ao = g.node(
        "ShaderNodeAmbientOcclusion",
        {"inside": True, "only_local": True, "samples": WEAR_AO_SAMPLES},
        Distance=WEAR_EDGE_WIDTH,
    )
    # Right at an edge half the inside rays hit the neighbouring face (AO ≈ 0.5): 2·(1 − AO) → 1.
    edge = g.map_range(ao.outputs["AO"], 1.0, 0.5)
    scuff_noise = g.node("ShaderNodeTexNoise", Scale=SCUFF_SCALE, Detail=3.0, Distortion=1.0)
    g.link(g.coords("Object"), scuff_noise.inputs["Vector"])
    lo = 0.75 - 0.1 * wear  # sparse: scuffs cover ≲ 15 % of a face at wear = 1
    scuffs = g.map_range(scuff_noise.outputs["Fac"], lo, lo + 0.05)
    both = g.node("ShaderNodeMath", {"operation": "MAXIMUM"})
    g.link(edge, both.inputs[0])
    g.link(scuffs, both.inputs[1])
    mask = g.math("MULTIPLY", both.outputs[0], wear, clamp=True)
    worn = g.node("ShaderNodeHueSaturation", Saturation=0.4, Value=1.4, Fac=1.0)
    g.feed(color, worn.inputs["Color"])
    return g.mix_color(mask, color, worn.outputs["Color"])


def texture_image(texture: np.ndarray, name: str) -> bpy.types.Image:
    """In-memory sRGB byte image from an H×W×3 uint8 array whose row 0 is the image's top.

    Blender stores image rows bottom-up (row 0 = v 0), so the array is flipped vertically.
    """
    arr = np.asarray(texture, dtype=np.uint8)
    h, w = arr.shape[:2]
    img = bpy.data.images.new(name, w, h, alpha=False, float_buffer=False)
    img.colorspace_settings.name = "sRGB"
    rgba = np.empty((h, w, 4), dtype=np.float32)
    rgba[..., :3] = arr[::-1] / np.float32(255.0)
    rgba[..., 3] = 1.0
    # Cycles reads the edited in-memory buffer (verified); packing would also PNG-encode it, which
    # cost 0.3–0.6 s per 1024² texture for nothing.
    img.pixels.foreach_set(rgba.ravel())
    return img


def build_material(mat: Material, name: str) -> bpy.types.Material:
    """Principled BSDF from `Material` (see the module docstring for the colour chain)."""
    bm = bpy.data.materials.new(name)
    nt = bm.node_tree  # bpy 5.0 materials always have a node tree (use_nodes is deprecated)
    bsdf = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    base = (*(float(c) for c in mat.base_color), 1.0)
    roughness = float(np.clip(mat.roughness, 0.0, 1.0))
    bsdf.inputs["Base Color"].default_value = base
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = float(np.clip(mat.metallic, 0.0, 1.0))
    bsdf.inputs["Specular IOR Level"].default_value = float(max(mat.specular, 0.0))
    bsdf.inputs["Transmission Weight"].default_value = float(np.clip(mat.transmission, 0.0, 1.0))
    bsdf.inputs["Coat Weight"].default_value = float(np.clip(mat.coat, 0.0, 1.0))
    bm.diffuse_color = base  # viewport colour only; handy when debugging a .blend

    g = _Graph(nt)
    color: Any = base  # an RGBA tuple until a node produces the colour
    rough: Any = roughness
    if mat.texture is not None:
        # EXTEND: UVs span 0..1 once, so texels at the border must not blend with the opposite side.
        tex = g.node("ShaderNodeTexImage", {"interpolation": "Linear", "extension": "EXTEND"})
        tex.image = texture_image(mat.texture, f"{name}_tex")
        g.link(g.coords("UV"), tex.inputs["Vector"])
        color = tex.outputs["Color"]
    if mat.pattern_strength > 0:
        fac = g.math(
            "MULTIPLY",
            _pattern_factor(g, mat.pattern, float(mat.pattern_scale)),
            float(mat.pattern_strength),
            clamp=True,
        )
        color = g.mix_color(fac, color, (*(float(c) for c in mat.secondary_color), 1.0))
    if mat.dirt > 0:
        color, rough = _dirt(g, color, rough, float(min(mat.dirt, 1.0)))
    if mat.wear > 0:
        color = _wear(g, color, float(min(mat.wear, 1.0)))
    g.feed(color, bsdf.inputs["Base Color"])
    g.feed(rough, bsdf.inputs["Roughness"])
    return bm
