"""A store shelving unit (gondola bay): side panels, back panel, plinth and N boards with price tags.

The unit's frame: origin on the floor at the centre of its footprint, x along the shelf, the open
front (the aisle) towards -Y, the back panel at +Y. Every board is a support `<name>.<i>` (i = 0
for the lowest), posed at the centre of the board's usable area (between the side panels, from the
front edge to the back panel) with +Z up; its half extent is that area's. Price-tag strips hang on
the board fronts just below the top, so they never stand in a product's way; the tags are printed
(a generated texture) and, like the rest of the unit, unlabelled.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import trimesh
from pydantic import model_validator

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.materials import sample_material
from scenesmith.procedural.params import Length, MaterialRule, Placed, PositiveLength, Probability, number
from scenesmith.procedural.registry import Support, SurfaceResult, SurfaceSpec, register
from scenesmith.procedural.surfaces.tabletop import placed_pose

SLOTS = ("frame", "back", "strip", "tags")
TAG_CELL = (128, 64)  # pixels (w, h) of one price tag in the tag texture
STRIP_DROP_M = 0.001  # a price-tag strip's top below its board's top


class ShelfRule(Placed):
    kind: Literal["shelf"]
    probability: Probability = 1.0
    width_m: PositiveLength = 1.0
    depth_m: PositiveLength = 0.4
    height_m: PositiveLength = 1.8
    boards: number(integer=True, minimum=1, maximum=12) = 5
    bottom_m: Length = 0.12  # top of the lowest board
    top_board_m: PositiveLength = 1.5  # top of the highest board; the others are evenly spaced
    board_thickness_m: PositiveLength = 0.02
    panel_thickness_m: PositiveLength = 0.025
    tag_strip_height_m: Length = 0.035  # 0 = no price-tag strips
    tags_per_m: number(minimum=0, maximum=20) = 4.0
    material: MaterialRule  # side panels, boards, plinth
    back_material: MaterialRule
    strip_material: MaterialRule = MaterialRule(color="#d9d9d9", roughness=0.4)
    tag_material: MaterialRule = MaterialRule(color="#ffffff", roughness=0.5)

    @model_validator(mode="after")
    def _boards_fit_apart_inside_the_unit(self) -> ShelfRule:
        """Every draw must space the boards apart inside the unit: a top board below the bottom one
        (or nearer to it than a board's thickness per gap) would stack the boards, and their products,
        into each other, and a board above the panels would float. The build cannot tell what was
        meant, so such rules are refused here rather than clamped there."""
        most = int(self.boards.support()[1])
        bottom_high = self.bottom_m.support()[1]
        top_low, top_high = self.top_board_m.support()
        thickness = self.board_thickness_m.support()[1]
        ceiling = self.height_m.support()[0] - thickness
        if bottom_high > ceiling:
            raise ValueError(
                f"bottom_m up to {bottom_high:g} puts the lowest board above the unit: expected bottom_m <= "
                f"height_m - board_thickness_m, which can be as low as {ceiling:g}"
            )
        lowest_top = bottom_high + (most - 1) * thickness
        if most > 1 and top_low < lowest_top:
            raise ValueError(
                f"top_board_m down to {top_low:g} and bottom_m up to {bottom_high:g} leave no room for up to "
                f"{most} boards of board_thickness_m up to {thickness:g}: expected top_board_m >= bottom_m + "
                f"(boards - 1) × board_thickness_m = {lowest_top:g} at every draw"
            )
        if most > 1 and top_high > ceiling:
            raise ValueError(
                f"top_board_m up to {top_high:g} puts the top board above the unit: expected top_board_m <= "
                f"height_m - board_thickness_m, which can be as low as {ceiling:g}"
            )
        bottom_low = self.bottom_m.support()[0]
        if bottom_low < thickness:
            raise ValueError(
                f"bottom_m down to {bottom_low:g} sinks the lowest board of board_thickness_m up to "
                f"{thickness:g} into the floor: expected bottom_m >= board_thickness_m at every draw"
            )
        strip = self.tag_strip_height_m.support()[1]
        if strip > 0 and bottom_low < STRIP_DROP_M + strip - 1e-9:  # the sum rounds: the edge itself fits
            raise ValueError(
                f"bottom_m down to {bottom_low:g} sinks the lowest board's price-tag strip of "
                f"tag_strip_height_m up to {strip:g} into the floor: expected bottom_m >= "
                f"tag_strip_height_m + {STRIP_DROP_M:g} at every draw, or tag_strip_height_m = 0"
            )
        return self

    @model_validator(mode="after")
    def _panels_leave_room_between_them(self) -> ShelfRule:
        """The side panels stand inside the unit's width: two panels as wide as the unit would leave the
        boards (and every product's support) no width, or a negative one."""
        panel, width = self.panel_thickness_m.support()[1], self.width_m.support()[0]
        if 2 * panel >= width:
            raise ValueError(
                f"panel_thickness_m up to {panel:g} on both sides leaves no board in width_m down to "
                f"{width:g}: expected 2 × panel_thickness_m < width_m at every draw"
            )
        return self


def _box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> trimesh.Trimesh:
    lo_a, hi_a = np.asarray(lo, float), np.asarray(hi, float)
    box = trimesh.creation.box(extents=hi_a - lo_a)
    box.apply_translation((lo_a + hi_a) / 2)
    return box


def tag_texture(count: int, rng: np.random.Generator) -> np.ndarray:
    """A row of price tags: white or promo-yellow, a price in black, a barcode-ish stripe."""
    w, h = TAG_CELL
    img = np.full((h, w * max(count, 1), 3), 255, np.uint8)
    for i in range(count):
        x0 = i * w
        if rng.uniform() < 0.25:
            cv2.rectangle(img, (x0, 0), (x0 + w - 1, h - 1), (250, 215, 40), -1)
        price = f"{int(rng.integers(0, 10))}.{int(rng.integers(0, 100)):02d}"
        cv2.putText(
            img, price, (x0 + 8, int(h * 0.72)), cv2.FONT_HERSHEY_DUPLEX, 1.3, (20, 20, 20), 2, cv2.LINE_AA
        )
        cv2.line(img, (x0 + 8, h - 8), (x0 + w - 10, h - 8), (60, 60, 60), 3)
        cv2.rectangle(img, (x0, 0), (x0 + w - 1, h - 1), (150, 150, 150), 1)
    return img


def build_shelf(rule: ShelfRule, rng: np.random.Generator, name: str) -> SurfaceResult:
    pose, factors = placed_pose(rule, rng)
    width, depth, height = rule.width_m.sample(rng), rule.depth_m.sample(rng), rule.height_m.sample(rng)
    boards = int(rule.boards.sample(rng))
    bottom, top = rule.bottom_m.sample(rng), rule.top_board_m.sample(rng)
    board_t, panel_t = rule.board_thickness_m.sample(rng), rule.panel_thickness_m.sample(rng)
    strip_h, tags_per_m = rule.tag_strip_height_m.sample(rng), rule.tags_per_m.sample(rng)
    inner = width / 2 - panel_t
    back_t = panel_t / 2
    heights = np.linspace(bottom, top, boards) if boards > 1 else np.array([bottom])

    parts: list[tuple[trimesh.Trimesh, int]] = [
        (_box((-width / 2, -depth / 2, 0), (-inner, depth / 2 + back_t, height)), 0),
        (_box((inner, -depth / 2, 0), (width / 2, depth / 2 + back_t, height)), 0),
        (_box((-inner, depth / 2, 0), (inner, depth / 2 + back_t, height)), 1),
    ]
    if bottom - board_t > 1e-3:
        parts.append((_box((-inner, -depth / 2, 0), (inner, depth / 2, bottom - board_t)), 0))
    tag_boxes: list[trimesh.Trimesh] = []
    strip_t = 0.006
    for z in heights:
        parts.append((_box((-inner, -depth / 2, z - board_t), (inner, depth / 2, z)), 0))
        if strip_h <= 0:
            continue
        strip_top = z - STRIP_DROP_M
        parts.append(
            (_box((-inner, -depth / 2 - strip_t, strip_top - strip_h), (inner, -depth / 2, strip_top)), 2)
        )
        n_tags = int(rng.poisson(tags_per_m * 2 * inner))
        tag_w = 0.9 * strip_h * TAG_CELL[0] / TAG_CELL[1]
        if tag_w > 2 * inner:  # a board narrower than one tag carries none
            continue
        for x in np.sort(rng.uniform(-inner + tag_w / 2, inner - tag_w / 2, n_tags)):
            front = -depth / 2 - strip_t
            tag_boxes.append(
                _box(
                    (x - tag_w / 2, front - 0.001, strip_top - 0.95 * strip_h),
                    (x + tag_w / 2, front, strip_top - 0.05 * strip_h),
                )
            )
    meshes = [m for m, _ in parts] + tag_boxes
    slots = np.concatenate(
        [np.full(len(m.faces), s, np.int32) for m, s in parts]
        + [np.full(len(t.faces), 3, np.int32) for t in tag_boxes]
    )
    mesh = trimesh.util.concatenate(meshes)
    uv = np.zeros((len(mesh.faces), 3, 2))
    offset = sum(len(m.faces) for m, _ in parts)
    for i, tag in enumerate(tag_boxes):
        # Each tag's front face (normal -Y) shows cell i of the tag texture; its edges stay white.
        corners = tag.vertices[tag.faces]
        lo, hi = tag.bounds
        s = (corners[..., 0] - lo[0]) / (hi[0] - lo[0])
        t = (corners[..., 2] - lo[2]) / (hi[2] - lo[2])
        front = tag.face_normals[:, 1] < -0.5
        cell_uv = np.stack([(i + s) / len(tag_boxes), t], axis=-1)
        cell_uv[~front] = [(i + 0.5) / len(tag_boxes), 0.97]
        uv[offset : offset + len(tag.faces)] = cell_uv
        offset += len(tag.faces)

    materials = []
    for slot, material_rule in zip(
        SLOTS, (rule.material, rule.back_material, rule.strip_material, rule.tag_material), strict=True
    ):
        texture = tag_texture(len(tag_boxes), rng) if slot == "tags" and tag_boxes else None
        material, drawn = sample_material(material_rule, rng, f"{name}_{slot}", texture=texture)
        materials.append(material)
        factors |= {f"{slot}.{k}": v for k, v in drawn.items()}
    obj = SceneObject(0, name, mesh, slots, materials, pose, uv=uv if tag_boxes else None)
    supports = []
    for i, z in enumerate(heights):
        local = np.eye(4)
        local[2, 3] = z
        supports.append(Support(f"{name}.{i}", pose @ local, (inner, depth / 2)))
    factors |= {
        "width_m": width,
        "depth_m": depth,
        "height_m": height,
        "boards": boards,
        "board_heights_m": [round(float(z), 6) for z in heights],
        "tags": len(tag_boxes),
    }
    return SurfaceResult([obj], supports, factors)


register(SurfaceSpec("shelf", ShelfRule, build_shelf))
