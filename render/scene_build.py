"""Realize plain-data scene parts as bpy datablocks. Imports bpy: only used by `blender.py`.

Every function returns the datablocks it created so the renderer can account for them; the
renderer wipes all of them (and purges orphans) between images.
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np
from mathutils import Matrix, Vector

from scenesmith.procedural.description import Camera, Light, Material, SceneObject, World
from scenesmith.render.camera import blender_camera_params

# Marble look: fine noise detail plus strong domain distortion gives veining rather than blobs.
NOISE_DETAIL = 6.0
NOISE_DISTORTION = 2.0


def _socket(sockets: Any, identifier: str) -> Any:
    """Socket by stable identifier (names repeat on multi-type nodes such as Mix)."""
    for s in sockets:
        if s.identifier == identifier:
            return s
    raise KeyError(f"no socket {identifier!r} in {[s.identifier for s in sockets]}")


def build_material(mat: Material, name: str) -> bpy.types.Material:
    """Principled BSDF from `Material`; optional object-space noise mix for a marbled look."""
    bm = bpy.data.materials.new(name)
    nt = bm.node_tree  # bpy 5.0 materials always have a node tree (use_nodes is deprecated)
    bsdf = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    base = (*(float(c) for c in mat.base_color), 1.0)
    bsdf.inputs["Base Color"].default_value = base
    bsdf.inputs["Roughness"].default_value = float(np.clip(mat.roughness, 0.0, 1.0))
    bsdf.inputs["Metallic"].default_value = float(np.clip(mat.metallic, 0.0, 1.0))
    bsdf.inputs["Specular IOR Level"].default_value = float(max(mat.specular, 0.0))
    bsdf.inputs["Transmission Weight"].default_value = float(np.clip(mat.transmission, 0.0, 1.0))
    bsdf.inputs["Coat Weight"].default_value = float(np.clip(mat.coat, 0.0, 1.0))
    bm.diffuse_color = base  # viewport colour only; handy when debugging a .blend

    if mat.pattern_strength > 0:
        coord = nt.nodes.new("ShaderNodeTexCoord")
        noise = nt.nodes.new("ShaderNodeTexNoise")
        noise.inputs["Scale"].default_value = float(mat.pattern_scale)
        noise.inputs["Detail"].default_value = NOISE_DETAIL
        noise.inputs["Distortion"].default_value = NOISE_DISTORTION
        scale = nt.nodes.new("ShaderNodeMath")
        scale.operation = "MULTIPLY"
        scale.use_clamp = True
        scale.inputs[1].default_value = float(mat.pattern_strength)
        mix = nt.nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        _socket(mix.inputs, "A_Color").default_value = base
        _socket(mix.inputs, "B_Color").default_value = (*(float(c) for c in mat.secondary_color), 1.0)
        # Object coordinates: the pattern sticks to the object, independent of its pose.
        nt.links.new(coord.outputs["Object"], noise.inputs["Vector"])
        nt.links.new(noise.outputs["Factor"], scale.inputs[0])
        nt.links.new(scale.outputs[0], _socket(mix.inputs, "Factor_Float"))
        nt.links.new(_socket(mix.outputs, "Result_Color"), bsdf.inputs["Base Color"])
    return bm


def build_object(obj: SceneObject, collection: bpy.types.Collection) -> bpy.types.Object:
    """Mesh object with per-face material slots, world pose and pass_index = instance_id."""
    verts = np.asarray(obj.mesh.vertices, dtype=np.float32)
    faces = np.asarray(obj.mesh.faces, dtype=np.int32)
    name = f"{obj.instance_id:06d}_{obj.name}"[:60]
    me = bpy.data.meshes.new(name)
    # Bulk foreach_set is ~10× faster than from_pydata's Python loops on big meshes.
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.ravel())
    me.loops.add(faces.size)
    me.loops.foreach_set("vertex_index", faces.ravel())
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    me.polygons.foreach_set("material_index", np.asarray(obj.face_materials, dtype=np.int32))
    # New polygons default to smooth in bpy ≥ 4.1, which would average normals across hard
    # edges (a box would look like a blob); flat shading matches trimesh face normals.
    me.polygons.foreach_set("use_smooth", np.zeros(len(faces), dtype=bool))
    me.update(calc_edges=True)
    for i, mat in enumerate(obj.materials):
        me.materials.append(build_material(mat, f"{name}_m{i}_{mat.name}"[:60]))

    ob = bpy.data.objects.new(name, me)
    ob.matrix_world = Matrix(np.asarray(obj.pose, dtype=np.float64).tolist())
    ob.pass_index = int(obj.instance_id)
    collection.objects.link(ob)
    return ob


def build_camera(cam: Camera, scene: bpy.types.Scene) -> bpy.types.Object:
    """Camera object + render resolution from K and OpenCV world→camera."""
    p = blender_camera_params(cam.K, cam.world_to_camera, cam.width, cam.height, cam.clip_start, cam.clip_end)
    data = bpy.data.cameras.new("camera")
    data.type = "PERSP"
    data.sensor_fit = p.sensor_fit
    data.sensor_width = p.sensor_width_mm
    data.lens_unit = "MILLIMETERS"
    data.lens = p.lens_mm
    data.shift_x = p.shift_x
    data.shift_y = p.shift_y
    data.clip_start = p.clip_start
    data.clip_end = p.clip_end
    ob = bpy.data.objects.new("camera", data)
    ob.matrix_world = Matrix(p.matrix_world.tolist())
    scene.collection.objects.link(ob)
    scene.camera = ob
    r = scene.render
    r.resolution_x = p.resolution_x
    r.resolution_y = p.resolution_y
    r.resolution_percentage = 100
    r.pixel_aspect_x = 1.0
    r.pixel_aspect_y = 1.0
    return ob


def _aim_matrix(position: tuple[float, float, float], direction: tuple[float, float, float]) -> Matrix:
    """World matrix whose local -Z points along `direction` (Blender lights shine along -Z)."""
    d = Vector(direction).normalized()
    rot = d.to_track_quat("-Z", "Y").to_matrix().to_4x4()
    rot.translation = Vector(position)
    return rot


def build_light(light: Light, i: int, collection: bpy.types.Collection) -> bpy.types.Object:
    kind = {"point": "POINT", "area": "AREA", "sun": "SUN"}[light.kind]
    data = bpy.data.lights.new(f"light{i}", kind)
    data.energy = float(light.power)
    data.color = tuple(float(c) for c in light.color)
    if kind == "POINT":
        data.shadow_soft_size = float(light.size)
    elif kind == "AREA":
        data.shape = "SQUARE"
        data.size = float(light.size)
    else:
        data.angle = float(light.size)
    ob = bpy.data.objects.new(f"light{i}", data)
    ob.matrix_world = _aim_matrix(light.position, light.direction)
    collection.objects.link(ob)
    return ob


def build_world(world: World, scene: bpy.types.Scene) -> bpy.types.World:
    w = bpy.data.worlds.new("world")
    bg = next(n for n in w.node_tree.nodes if n.bl_idname == "ShaderNodeBackground")
    bg.inputs["Color"].default_value = (*(float(c) for c in world.color), 1.0)
    bg.inputs["Strength"].default_value = float(world.strength)
    scene.world = w
    return w
