"""Realize plain-data scene parts as bpy datablocks. Imports bpy: only used by `blender.py`.

Every function returns the datablocks it created so the renderer can account for them; the
renderer wipes all of them (and purges orphans) between images.
"""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Matrix, Vector

from scenesmith.procedural.description import Camera, Light, SceneObject, Sky, World
from scenesmith.render.camera import blender_camera_params
from scenesmith.render.materials import build_material

# Physical sky: Blender 5.0's Sky Texture models are SINGLE_SCATTERING (the former Nishita),
# MULTIPLE_SCATTERING (default), PREETHAM and HOSEK_WILKIE. The scattering models precompute a
# table per render (~0.5 s on 2 CPU cores); the analytic ones are cheaper but less faithful.
SKY_TYPE = "MULTIPLE_SCATTERING"
# The sky model is in absolute units (a white plate under a 35° sun reads ~32 linear). Scale so that
# Sky.strength = 1 suits the Standard view: that plate reads ~0.8, i.e. mid-grey objects are mid-grey.
SKY_EXPOSURE = 0.025
SKY_MAX_AEROSOL = 10.0  # aerosol_density at haze = 1 (Blender's soft maximum); haze 0 = no aerosols
# The smooth sky needs only a coarse importance map (the sun is a lamp); 1024 (default) costs ~0.5 s.
SKY_IMPORTANCE_MAP = 256
# Direct sun, fitted to MULTIPLE_SCATTERING's own sun disc (18 elevations × hazes, within 4 % for
# elevation ≥ 10°): normal irradiance per linear RGB channel = top · exp(−(tau + tau_haze·haze)·m),
# m = Kasten–Young relative air mass. Low suns get dimmer and redder, as in the sky model.
SUN_TOP_IRRADIANCE = (179.7, 164.4, 152.5)
SUN_TAU = (0.0737, 0.1280, 0.2603)
SUN_TAU_HAZE = (0.1384, 0.1586, 0.1965)


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
    # edges (a box would look like a blob); flat shading matches trimesh face normals and is the
    # default. Smooth shading interpolates vertex normals over shared vertices (curved surfaces).
    me.polygons.foreach_set("use_smooth", np.full(len(faces), bool(obj.smooth)))
    me.update(calc_edges=True)
    if obj.uv is not None:
        # One UV per face corner, in the same order as the loops above (face-major, corner-minor).
        uv = me.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", np.asarray(obj.uv, dtype=np.float32).ravel())
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
    if cam.f_stop is not None and cam.focus_distance is not None:
        # The sensor is 36 mm wide (see camera.py), so the f-stop acts as on a full-frame camera
        # with the same field of view. The label render switches DOF off again (blender.py).
        data.dof.use_dof = True
        data.dof.aperture_fstop = float(cam.f_stop)
        data.dof.focus_distance = float(cam.focus_distance)
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
    """Uniform background colour, or a physical sky (Sky Texture) when `world.sky` is set."""
    w = bpy.data.worlds.new("world")
    bg = next(n for n in w.node_tree.nodes if n.bl_idname == "ShaderNodeBackground")
    if world.sky is None:
        bg.inputs["Color"].default_value = (*(float(c) for c in world.color), 1.0)
        bg.inputs["Strength"].default_value = float(world.strength)
    else:
        sky = world.sky
        tex = w.node_tree.nodes.new("ShaderNodeTexSky")
        tex.sky_type = SKY_TYPE
        tex.sun_elevation = float(sky.sun_elevation)
        # Verified by rendering a pole: in bpy 5.0 sun_rotation is the azimuth clockwise from +Y.
        tex.sun_rotation = float(sky.sun_azimuth % (2.0 * math.pi))
        # Direct sunlight comes from the SUN lamp (`build_sky_sun`); keeping the disc as well would
        # count it twice, and a tiny bright disc in the background is sampled noisily.
        tex.sun_disc = False
        tex.air_density = 1.0
        tex.aerosol_density = float(SKY_MAX_AEROSOL * sky.haze)
        w.node_tree.links.new(tex.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = float(SKY_EXPOSURE * sky.strength)
        w.cycles.sampling_method = "MANUAL"
        w.cycles.sample_map_resolution = SKY_IMPORTANCE_MAP
    scene.world = w
    return w


def sun_vector(sky: Sky) -> np.ndarray:
    """Unit vector from the scene towards the sun (world frame, +Y north, +X east, +Z up)."""
    ce = math.cos(sky.sun_elevation)
    return np.array(
        [math.sin(sky.sun_azimuth) * ce, math.cos(sky.sun_azimuth) * ce, math.sin(sky.sun_elevation)]
    )


def sun_irradiance(sky: Sky) -> np.ndarray:
    """Linear RGB normal irradiance of the sun (W/m², before SKY_EXPOSURE); 0 below the horizon."""
    el = math.degrees(sky.sun_elevation)
    if el <= 0:
        return np.zeros(3)
    airmass = 1.0 / (math.sin(sky.sun_elevation) + 0.50572 * (el + 6.07995) ** -1.6364)
    tau = np.asarray(SUN_TAU) + np.asarray(SUN_TAU_HAZE) * sky.haze
    return np.asarray(SUN_TOP_IRRADIANCE) * np.exp(-tau * airmass)


def build_sky_sun(sky: Sky, collection: bpy.types.Collection) -> bpy.types.Object | None:
    """SUN lamp at the sky's sun position: sharp, controllable direct light (None below the horizon).

    energy = SKY_EXPOSURE · strength · max(sun_irradiance); colour = sun_irradiance / its maximum.
    """
    e = sun_irradiance(sky) * SKY_EXPOSURE * sky.strength
    if e.max() <= 0:
        return None
    data = bpy.data.lights.new("sky_sun", "SUN")
    data.energy = float(e.max())
    data.color = tuple(float(c) for c in e / e.max())
    data.angle = float(sky.sun_angle)
    ob = bpy.data.objects.new("sky_sun", data)
    ob.matrix_world = _aim_matrix((0.0, 0.0, 0.0), tuple(float(c) for c in -sun_vector(sky)))
    collection.objects.link(ob)
    return ob
