"""Shelf placement: products stand in rows along shelf boards, fronts to the aisle, as stocked in a store.

A group is laid out in *runs*: a run is a few neighbouring facings of the group on one board, each
facing a column of one to `depth` items standing behind each other from the board's front edge
backwards. Products keep their rest pose (front = -Y of the support, i.e. the aisle) with a small
yaw jitter. Columns own disjoint x-intervals of a board, items in a column own disjoint y-intervals,
and boxes are the items' exact axis-aligned bounds after the yaw, so nothing can interpenetrate.
Columns of groups placed earlier are read back from the objects already on the board, and an item
only goes on a board whose clearance (the height of the next board, or any other structure, above a
grid of points on it) leaves `headroom_m` above it. Slots left empty with probability 1 − `fill` read as
sold-out gaps.

`support: [shelf]` means every board of surface `shelf` (`shelf.0`, `shelf.1`, …); a name such
as `shelf.2` picks one board.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import trimesh

from scenesmith.procedural.params import Angle, Fraction, Length, Rule, Supports, number
from scenesmith.procedural.registry import (
    Generated,
    Placement,
    PlacementContext,
    PlacementSpec,
    Support,
    register,
)
from scenesmith.procedural.vertical import crossings

RAY_GRID = 5  # probe points per side of the board when measuring its clearance

MAX_STALLED_RUNS = 20  # runs that place nothing before the item that blocks them is skipped


class ShelfRowsRule(Rule):
    method: Literal["shelf_rows"]
    support: Supports
    gap_m: Length = {"uniform": [0.002, 0.015]}  # between neighbouring columns, drawn per gap
    depth_gap_m: Length = {"uniform": [0.002, 0.01]}  # between items of one column
    facings: number(integer=True, minimum=1, maximum=100) = {"randint": [2, 5]}  # columns per run
    depth: number(integer=True, minimum=1, maximum=20) = {"randint": [1, 3]}  # items per column
    fill: Fraction = 1.0  # probability that a slot is stocked
    front_setback_m: Length = {"uniform": [0.0, 0.02]}  # front row's distance behind the board edge
    yaw_jitter_deg: Angle = {"uniform": [-3, 3]}
    headroom_m: Length = 0.01


def resolve_supports(names: list[str], context: PlacementContext) -> list[Support]:
    """Supports named exactly, or every `<name>.<i>` board of a surface named `<name>`, in order."""
    found: list[Support] = []
    for name in names:
        matches = [s for key, s in context.supports.items() if key == name or key.startswith(f"{name}.")]
        found += [s for s in sorted(matches, key=lambda s: s.name) if s not in found]
    return found


def clearance(support: Support, context: PlacementContext) -> float:
    """Free height above a board: the lowest surface-structure triangle over a grid of points on it."""
    hx, hy = support.half_extent
    grid = np.linspace(-0.9, 0.9, RAY_GRID)
    points = np.array([[x * hx, y * hy] for x in grid for y in grid])
    world_to_support = np.linalg.inv(support.pose)
    best = math.inf
    for obj in context.placed:
        if obj.instance_id != 0:  # products stand on boards; the boards themselves are what limit
            continue
        vertices = trimesh.transform_points(obj.mesh.vertices, world_to_support @ obj.pose)
        tri = vertices[obj.mesh.faces]
        tri = tri[tri[:, :, 2].max(axis=1) > 1e-4]  # only what reaches above the board
        if not len(tri):
            continue
        z = crossings(tri, points)
        above = z > 1e-4  # False where a line misses (NaN)
        if above.any():
            best = min(best, float(z[above].min()))
    return best


def occupied_columns(support: Support, context: PlacementContext) -> list[tuple[float, float]]:
    """x-intervals (support frame) taken by objects already standing on this board."""
    world_to_support = np.linalg.inv(support.pose)
    intervals = []
    for obj in context.placed:
        if obj.attributes.get("support") == support.name:
            xs = trimesh.transform_points(obj.mesh.vertices, world_to_support @ obj.pose)[:, 0]
            intervals.append((float(xs.min()), float(xs.max())))
    return intervals


def free_intervals(half_x: float, taken: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """Complement of the taken intervals in [-half_x, half_x], each shrunk by `gap` on both sides."""
    free, cursor = [], -half_x
    for lo, hi in sorted(taken):
        if lo - gap > cursor:
            free.append((cursor, lo - gap))
        cursor = max(cursor, hi + gap)
    if cursor < half_x:
        free.append((cursor, half_x))
    return free


def rotated_bounds(item: Generated, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """(rotation, bounds 2×3) of the item after its rest rotation and a yaw about +Z."""
    rotation = trimesh.transformations.rotation_matrix(yaw, [0, 0, 1])[:3, :3] @ item.rest_rotation
    vertices = item.mesh.vertices @ rotation.T
    return rotation, np.array([vertices.min(0), vertices.max(0)])


class Board:
    """One board's free space while a group is laid out on it."""

    def __init__(self, support: Support, context: PlacementContext) -> None:
        self.support = support
        self.half = np.asarray(support.half_extent, float)
        self.clearance = clearance(support, context)
        self.taken = occupied_columns(support, context)

    def slot(self, width: float, gap: float, rng: np.random.Generator) -> float | None:
        """Left edge of a new run: packed against a neighbour or somewhere in a free stretch."""
        fits = [(lo, hi) for lo, hi in free_intervals(self.half[0], self.taken, gap) if hi - lo >= width]
        if not fits:
            return None
        lengths = np.array([hi - lo for lo, hi in fits])
        lo, hi = fits[int(rng.choice(len(fits), p=lengths / lengths.sum()))]
        return lo if rng.uniform() < 0.7 else float(rng.uniform(lo, hi - width))

    def free_length(self) -> float:
        return sum(hi - lo for lo, hi in free_intervals(self.half[0], self.taken, 0.0))

    def is_free(self, lo: float, hi: float) -> bool:
        return lo >= -self.half[0] and hi <= self.half[0] and all(hi <= a or lo >= b for a, b in self.taken)


def place_shelf_rows(
    rule: ShelfRowsRule, rng: np.random.Generator, generated: list[Generated], context: PlacementContext
) -> list[Placement | None]:
    boards = [Board(s, context) for s in resolve_supports(rule.support, context)]
    placements: list[Placement | None] = [None] * len(generated)
    headroom = rule.headroom_m.sample(rng)
    poses = [rotated_bounds(item, math.radians(rule.yaw_jitter_deg.sample(rng))) for item in generated]
    pending = list(range(len(generated)))
    stalled = 0  # runs in a row that stocked and reserved nothing
    while pending and boards:
        first = pending[0]
        _, bounds = poses[first]
        size = bounds[1] - bounds[0]
        candidates = [b for b in boards if size[2] + headroom <= b.clearance and size[1] <= 2 * b.half[1]]
        gap = rule.gap_m.sample(rng)
        starts = [(b, b.slot(size[0], gap, rng)) for b in candidates]
        starts = [(b, x) for b, x in starts if x is not None]
        if not starts:
            pending.pop(0)  # this item fits nowhere; later (smaller) ones may
            continue
        # Emptier boards are likelier, so stock spreads over the unit instead of leaving bare boards.
        free = np.array([b.free_length() for b, _ in starts])
        board, x = starts[int(rng.choice(len(starts), p=free / free.sum()))]
        facings, depth = int(rule.facings.sample(rng)), int(rule.depth.sample(rng))
        setback = rule.front_setback_m.sample(rng)
        before, reserved = len(pending), len(board.taken)
        for _ in range(facings):
            if not pending:
                break
            column = _fill_column(rule, rng, board, x, setback, depth, pending, poses, headroom)
            if column is None:
                break
            width, placed = column
            for index, pose in placed:
                placements[index] = Placement(board.support.pose @ pose, board.support.name)
            board.taken.append((x, x + width))
            x += width + rule.gap_m.sample(rng)
        stalled = stalled + 1 if len(pending) == before and len(board.taken) == reserved else 0
        if stalled and (not board.taken or stalled >= MAX_STALLED_RUNS):
            # This item fits no board's depth after the sampled setback: redrawing the setback may
            # help a few times, but an item too deep for every board would loop here forever.
            pending.pop(0)
            stalled = 0
    return placements


def _fill_column(
    rule: ShelfRowsRule,
    rng: np.random.Generator,
    board: Board,
    x: float,
    setback: float,
    depth: int,
    pending: list[int],
    poses: list[tuple[np.ndarray, np.ndarray]],
    headroom: float,
) -> tuple[float, list[tuple[int, np.ndarray]]] | None:
    """Stock one facing at left edge x: up to `depth` pending items front to back, or an empty slot.

    Returns (column width, [(item index, support-frame pose)]), or None when the next item does not
    fit at x (the run ends). Items are taken from `pending` in order as they are placed.
    """
    _, first_bounds = poses[pending[0]]
    first_width = first_bounds[1, 0] - first_bounds[0, 0]
    if (
        not board.is_free(x, x + first_width)
        or first_bounds[1, 2] - first_bounds[0, 2] + headroom > board.clearance
    ):
        return None
    if rng.uniform() >= rule.fill.sample(rng):
        return first_width, []  # a sold-out slot: the space stays empty, the item waits for the next one
    placed: list[tuple[int, np.ndarray]] = []
    width = 0.0
    y = -board.half[1] + setback
    while pending and len(placed) < depth:
        index = pending[0]
        rotation, bounds = poses[index]
        size = bounds[1] - bounds[0]
        if (
            y + size[1] > board.half[1]
            or not board.is_free(x, x + max(width, size[0]))
            or size[2] + headroom > board.clearance
        ):
            break
        local = np.eye(4)
        local[:3, :3] = rotation
        local[:3, 3] = [x - bounds[0, 0], y - bounds[0, 1], -bounds[0, 2]]
        placed.append((pending.pop(0), local))
        width = max(width, size[0])
        y += size[1] + rule.depth_gap_m.sample(rng)
    if not placed:
        return None
    return width, placed


register(PlacementSpec("shelf_rows", ShelfRowsRule, place_shelf_rows))
