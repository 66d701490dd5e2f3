"""Oriented boxes from masks and extras (grasp candidates) moved into the camera frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from scenesmith.annotate.labels import extras_in_camera, oriented_bbox


def test_oriented_box_of_a_rotated_rectangle_mask() -> None:
    mask = np.zeros((200, 200), np.uint8)
    rect = ((100.0, 100.0), (120.0, 30.0), 30.0)
    cv2.fillPoly(mask, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 1)
    obb = oriented_bbox(mask.astype(bool))
    sides = sorted([obb["w"], obb["h"]])
    assert sides == pytest.approx([30.0, 120.0], abs=3.0)
    assert (obb["cx"], obb["cy"]) == pytest.approx((100.5, 100.5), abs=1.0)
    axis = np.asarray(obb["corners"][1]) - np.asarray(obb["corners"][0])
    angle = np.degrees(np.arctan2(axis[1], axis[0])) % 90
    assert min(abs(angle - 30), abs(angle - 60)) < 3
    assert oriented_bbox(np.zeros((5, 5), bool)) is None


def test_grasp_candidates_are_transformed_to_the_camera_frame() -> None:
    pose = trimesh.transformations.rotation_matrix(np.pi / 2, [0, 0, 1])
    pose[:3, 3] = [1.0, 2.0, 3.0]
    extras = {"grasps": [{"position": [1.0, 0.0, 0.0], "normal": [1.0, 0.0, 0.0], "score": 0.9}], "note": "x"}
    moved = extras_in_camera(extras, pose)
    assert set(moved) == {"grasps"}
    np.testing.assert_allclose(moved["grasps"][0]["position"], [1.0, 3.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(moved["grasps"][0]["normal"], [0.0, 1.0, 0.0], atol=1e-12)
    assert moved["grasps"][0]["score"] == 0.9


def test_heading_box_follows_the_given_axis() -> None:
    from scenesmith.annotate.labels import heading_bbox

    mask = np.zeros((200, 200), np.uint8)
    rect = ((100.0, 100.0), (120.0, 30.0), 30.0)
    cv2.fillPoly(mask, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 1)
    direction = np.array([np.cos(np.radians(30)), np.sin(np.radians(30))])
    box = heading_bbox(mask.astype(bool), direction)
    assert box["angle_deg"] == pytest.approx(30.0)
    assert (box["length"], box["width"]) == pytest.approx((121.0, 31.0), abs=3.0)
    # Along a wrong axis the same mask needs a much larger box.
    skew = heading_bbox(mask.astype(bool), np.array([1.0, 0.0]))
    assert skew["length"] * skew["width"] > 1.5 * box["length"] * box["width"]
