"""Aircraft and apron-vehicle generators: deterministic, valid closed meshes, honest size classes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scenesmith.procedural.generators.aircraft import (
    SIZE_CLASSES,
    SLOTS,
    SPAN_RANGES_M,
    AircraftParams,
    make_aircraft,
)
from scenesmith.procedural.generators.vehicles import VehicleParams, make_vehicle
from scenesmith.procedural.registry import GENERATORS

SEEDS = st.integers(0, 2**32 - 1)


def _check_mesh(mesh, face_materials: np.ndarray, slots: int) -> None:  # noqa: ANN001
    assert np.isfinite(mesh.vertices).all()
    assert len(face_materials) == len(mesh.faces)
    assert face_materials.min() >= 0 and face_materials.max() < slots
    assert mesh.area_faces.min() > 1e-9  # no degenerate triangles
    assert mesh.is_watertight
    assert mesh.volume > 0  # outward winding
    assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)  # rests on the ground plane


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS)
def test_aircraft_is_deterministic_per_seed(seed: int) -> None:
    a = make_aircraft(AircraftParams(), np.random.default_rng(seed))
    b = make_aircraft(AircraftParams(), np.random.default_rng(seed))
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices)
    assert np.array_equal(a.mesh.faces, b.mesh.faces)
    assert np.array_equal(a.face_materials, b.face_materials)
    assert a.attributes == b.attributes


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS)
def test_aircraft_meshes_are_valid_and_closed(seed: int) -> None:
    params = AircraftParams()
    item = make_aircraft(params, np.random.default_rng(seed))
    _check_mesh(item.mesh, item.face_materials, len(SLOTS))
    assert item.slots == SLOTS
    assert item.category == item.attributes["size_class"]
    assert GENERATORS["aircraft"].categories_of(params) == SIZE_CLASSES  # every class can be drawn
    assert item.category in SIZE_CLASSES
    # Parts overlap where they join, so no exact volume is claimed.
    assert item.volume is None
    # The origin is the fuselage's mid-length: the footprint is centred on it.
    lo, hi = item.mesh.bounds[:, :2]
    assert np.all(np.abs(lo + hi) < 0.1 * (hi - lo))


@pytest.mark.parametrize("size_class", SIZE_CLASSES)
def test_size_classes_spans_fall_in_their_declared_ranges(size_class: str) -> None:
    params = AircraftParams(size_class=size_class)
    low, high = SPAN_RANGES_M[size_class]
    for seed in range(25):
        item = make_aircraft(params, np.random.default_rng(seed))
        span = item.attributes["span_m"]
        assert item.category == size_class
        assert low <= span <= high
        # The mesh's lateral extent is the wing span (wing tips are the widest points).
        width = item.mesh.bounds[1, 1] - item.mesh.bounds[0, 1]
        assert width == pytest.approx(span, rel=1e-6)
        length = item.mesh.bounds[1, 0] - item.mesh.bounds[0, 0]
        assert length == pytest.approx(item.attributes["length_m"], rel=0.1)


def test_size_class_weights_and_layouts_follow_params() -> None:
    only_large = AircraftParams(
        size_class={"choice": {"values": ["large"], "weights": [1]}}, quad_probability=1
    )
    for seed in range(5):
        item = make_aircraft(only_large, np.random.default_rng(seed))
        assert item.category == "large" and item.attributes["engines"] == 4
    props = AircraftParams(size_class="small", prop_probability=1)
    assert make_aircraft(props, np.random.default_rng(0)).attributes["engine_layout"] == "prop"
    jets = AircraftParams(size_class="small", prop_probability=0)
    assert make_aircraft(jets, np.random.default_rng(0)).attributes["engine_layout"] == "rear_jet"


@pytest.mark.parametrize(
    "bad",
    [
        {"small_span_m": {"uniform": [5, 20]}},  # leaves the declared class range
        {"large_span_m": 70},
        {"size_class": "huge"},
        {"ground_clearance_m": {"normal": {"mean": 0.5, "std": 0.1}}},  # unbounded
        {"wingspan": 30},  # unknown key
    ],
)
def test_bad_params_fail_at_validation(bad: dict) -> None:
    with pytest.raises(ValidationError):
        AircraftParams(**bad)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_vehicles_are_deterministic_valid_and_exact_volume(seed: int) -> None:
    a = make_vehicle(VehicleParams(), np.random.default_rng(seed))
    b = make_vehicle(VehicleParams(), np.random.default_rng(seed))
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices) and np.array_equal(a.mesh.faces, b.mesh.faces)
    _check_mesh(a.mesh, a.face_materials, 2)
    assert a.volume == pytest.approx(a.mesh.volume, rel=1e-9)
    assert a.category is None and GENERATORS["vehicle"].categories is None  # unlabelled clutter
