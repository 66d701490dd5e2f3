"""`BlenderRenderer`: realize a `SceneDescription` in Cycles and return `RenderPasses`.

One renderer (one bpy session) renders many images. Each `render()` builds the scene, renders
twice, reads the files back and wipes every datablock it created:

1. a *label* render — 1 sample, filter width 0.01 px, no denoising — whose Depth, Normal and
   IndexOB passes therefore describe the surface hit by the ray through each pixel centre
   (a normal render takes these from a filter-jittered sample, so edges would wander);
2. a *beauty* render with the user's settings, written as an 8-bit PNG by Blender so the
   scene's view transform / look / exposure are applied by Blender's own colour management.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from scenesmith.console import output_silenced
from scenesmith.procedural.description import SceneDescription
from scenesmith.render.devices import DeviceChoice, apply_device, restrict_to_gpu, select_device
from scenesmith.render.exr import read_exr_channels, stack
from scenesmith.render.passes import RenderPasses
from scenesmith.render.sensor import apply_sensor
from scenesmith.render.settings import RenderSettings
from scenesmith.render.validate import validate_description

log = logging.getLogger(__name__)

# Cycles writes 1e10 for rays that hit nothing; anything this far is background.
BACKGROUND_DEPTH = 1e9
# Narrowest pixel filter Cycles accepts: label rays leave within ±0.005 px of the pixel centre.
LABEL_FILTER_WIDTH = 0.01
VIEW_LAYER = "ViewLayer"


class BlenderRenderer:
    """Renders scene descriptions with Cycles in this process (bpy is imported here, lazily)."""

    def __init__(self, settings: RenderSettings | None = None, gpu_index: int | None = None) -> None:
        """`gpu_index` keeps one GPU of several (a pool runs one renderer per GPU); None uses all."""
        import bpy  # lazy: importing scenesmith.render must not pull in Blender

        self._bpy = bpy
        self.settings = settings or RenderSettings()
        self.settings.validate()
        self._closed = False
        # Driver probes print to the terminal from C; the choice is logged once, after.
        with output_silenced((1, 2)):
            bpy.ops.wm.read_factory_settings(use_empty=True)
            self.device: DeviceChoice = select_device(self.settings.device)
            self.gpu_count = len(self.device.names) if self.device.device == "GPU" else 0
            if gpu_index is not None and self.gpu_count:
                self.device = restrict_to_gpu(self.device, gpu_index % self.gpu_count)
        if self.device.device == "CPU":
            log.info("Cycles renders on the CPU (no usable GPU found or CPU requested)")
        else:
            log.info(
                "Cycles renders on the GPU via %s (%s)", self.device.backend, ", ".join(self.device.names)
            )
        self._configure_scene()

    # ------------------------------------------------------------------ setup
    @property
    def scene(self) -> Any:
        return self._bpy.context.scene

    def _configure_scene(self) -> None:
        """Settings that do not depend on the description.

        Applied at init (so a bad view transform fails early) and again before every render:
        bpy state is per process, so another renderer in the same process (or its close())
        may have reset the scene or device preferences in between. It costs well under 1 ms.
        """
        s, st = self.scene, self.settings
        apply_device(self.device)
        s.render.engine = "CYCLES"
        s.cycles.device = self.device.device
        s.cycles.use_animated_seed = False
        s.cycles.max_bounces = int(st.max_bounces)
        s.cycles.pixel_filter_type = "BLACKMAN_HARRIS"
        s.render.film_transparent = False
        s.render.dither_intensity = 0.0  # dither would make the 8-bit RGB non-deterministic noise
        s.render.use_compositing = False
        s.render.use_sequencer = False
        if st.threads > 0:
            s.render.threads_mode = "FIXED"
            s.render.threads = int(st.threads)
        else:
            s.render.threads_mode = "AUTO"
        if self.device.backend == "OPTIX":
            self._denoiser = "OPTIX"
        else:
            self._denoiser = "OPENIMAGEDENOISE"
        s.cycles.denoiser = self._denoiser
        s.cycles.denoising_use_gpu = self.device.device == "GPU"
        vs = s.view_settings
        s.display_settings.display_device = "sRGB"
        try:
            vs.view_transform = st.view_transform
        except TypeError as exc:
            raise ValueError(f"unknown view_transform {st.view_transform!r}: {exc}") from exc
        try:
            vs.look = st.look
        except TypeError as exc:
            raise ValueError(f"look {st.look!r} not valid for {st.view_transform!r}: {exc}") from exc
        vs.exposure = float(st.exposure)
        vs.gamma = 1.0
        vl = s.view_layers[0]
        vl.name = VIEW_LAYER
        vl.use_pass_combined = True
        vl.use_pass_z = True
        vl.use_pass_normal = True
        vl.use_pass_object_index = True

    def _set_label_mode(self, label: bool, dof: bool = False) -> None:
        """Switch between the exact 1-sample label render and the beauty render.

        Depth of field jitters ray origins over the aperture, so it is always off for labels
        (pixel-centre rays from the pinhole); `dof` turns it on for the beauty render.
        """
        s, st = self.scene, self.settings
        s.camera.data.dof.use_dof = dof and not label
        if label:
            s.cycles.samples = 1
            s.cycles.use_adaptive_sampling = False
            s.cycles.use_denoising = False
            s.cycles.filter_width = LABEL_FILTER_WIDTH
            im = s.render.image_settings
            im.media_type = "MULTI_LAYER_IMAGE"
            im.file_format = "OPEN_EXR_MULTILAYER"
            im.color_depth = "32"
            im.exr_codec = "ZIP"
        else:
            s.cycles.samples = int(st.samples)
            s.cycles.use_adaptive_sampling = st.adaptive_threshold > 0
            if st.adaptive_threshold > 0:
                s.cycles.adaptive_threshold = float(st.adaptive_threshold)
            s.cycles.use_denoising = bool(st.denoise)
            s.cycles.filter_width = float(st.filter_width)
            im = s.render.image_settings
            im.media_type = "IMAGE"
            im.file_format = "PNG"
            im.color_mode = "RGB"
            im.color_depth = "8"
            im.compression = 0

    # ---------------------------------------------------------------- render
    def render(self, desc: SceneDescription, workdir: Path | None = None) -> RenderPasses:
        """Render one description. Raises ValueError (before touching bpy) for bad input.

        If `workdir` is given the files are kept there: labels.exr (label passes), rgb.png
        (display-referred beauty) and beauty.exr (scene-linear beauty, written only in this
        case because it costs time). Otherwise a temporary directory is used and removed.
        """
        if self._closed:
            raise RuntimeError("BlenderRenderer is closed")
        validate_description(desc)
        if workdir is None:
            with tempfile.TemporaryDirectory(prefix="scenesmith_render_") as tmp:
                return self._render(desc, Path(tmp), keep_linear=False)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        return self._render(desc, workdir, keep_linear=True)

    def _save_linear(self, path: Path) -> None:
        """Write the beauty render's scene-linear passes (debugging / colour verification)."""
        im = self.scene.render.image_settings
        im.media_type = "MULTI_LAYER_IMAGE"
        im.file_format = "OPEN_EXR_MULTILAYER"
        im.color_depth = "32"
        self._bpy.data.images["Render Result"].save_render(str(path), scene=self.scene)

    def _render(self, desc: SceneDescription, workdir: Path, keep_linear: bool) -> RenderPasses:
        from scenesmith.render import scene_build

        bpy = self._bpy
        s = self.scene
        timings: dict[str, float] = {}
        try:
            t0 = time.perf_counter()
            self._configure_scene()
            s.cycles.seed = int(desc.seed) % 2**31
            scene_build.build_camera(desc.camera, s)
            scene_build.build_world(desc.world, s)
            if desc.world.sky is not None:
                scene_build.build_sky_sun(desc.world.sky, s.collection)
            for obj in desc.objects:
                scene_build.build_object(obj, s.collection)
            for i, light in enumerate(desc.lights):
                scene_build.build_light(light, i, s.collection)
            timings["setup"] = time.perf_counter() - t0

            exr_path = workdir / "labels.exr"
            png_path = workdir / "rgb.png"
            for stale in (exr_path, png_path):  # a reused workdir must not hand back the last image's passes
                stale.unlink(missing_ok=True)
            t0 = time.perf_counter()
            self._set_label_mode(True)
            s.render.filepath = _literal_path(exr_path)
            # Labels need no light; dropping the world skips a physical sky's precomputation.
            world, s.world = s.world, None
            with output_silenced():
                bpy.ops.render.render(write_still=True)
            s.world = world
            t1 = time.perf_counter()
            cam = desc.camera
            self._set_label_mode(False, dof=cam.f_stop is not None and cam.focus_distance is not None)
            s.render.filepath = _literal_path(png_path)
            with output_silenced():
                bpy.ops.render.render(write_still=True)
            t2 = time.perf_counter()
            if keep_linear:
                self._save_linear(workdir / "beauty.exr")
            timings["render_labels"] = t1 - t0
            timings["render_beauty"] = t2 - t1
            timings["render"] = t2 - t0

            t0 = time.perf_counter()
            passes = self._read_back(exr_path, png_path, desc)
            timings["readback"] = time.perf_counter() - t0
        finally:
            t0 = time.perf_counter()
            self.clear()
            timings["cleanup"] = time.perf_counter() - t0
        # Sensor effects touch only the beauty RGB: the labels describe the scene, not the camera.
        t0 = time.perf_counter()
        passes.rgb = apply_sensor(passes.rgb, desc.sensor, np.random.default_rng(desc.seed))
        timings["sensor"] = time.perf_counter() - t0
        passes.timings = timings
        passes.settings = self._settings_record(desc)
        return passes

    def _read_back(self, exr_path: Path, png_path: Path, desc: SceneDescription) -> RenderPasses:
        ch = read_exr_channels(exr_path)
        p = f"{VIEW_LAYER}."
        depth = ch[p + "Depth.Z"].astype(np.float32)
        hit = depth < BACKGROUND_DEPTH
        depth = np.where(hit, depth, np.float32(np.nan)).astype(np.float32)
        instance = np.rint(ch[p + "Object Index.X"]).astype(np.int32)
        normal = stack(ch, p + "Normal.", "XYZ").astype(np.float32)
        norm = np.linalg.norm(normal, axis=-1, keepdims=True)
        normal = np.where(hit[..., None] & (norm > 0), normal / np.maximum(norm, 1e-12), 0.0)
        bgr = cv2.imread(str(png_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RuntimeError(f"Blender did not write {png_path}")
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        h, w = desc.camera.height, desc.camera.width
        for name, arr in (("rgb", rgb), ("depth", depth), ("instance", instance)):
            if arr.shape[:2] != (h, w):
                raise RuntimeError(f"{name} pass has shape {arr.shape}, expected ({h}, {w})")
        return RenderPasses(rgb=rgb, instance=instance, depth=depth, normal=normal.astype(np.float32))

    def _settings_record(self, desc: SceneDescription) -> dict[str, Any]:
        bpy = self._bpy
        st = self.settings
        s = self.scene
        return {
            **st.as_dict(),
            "device": self.device.as_dict(),
            "denoiser": self._denoiser if st.denoise else None,
            "view_transform": s.view_settings.view_transform,
            "look": s.view_settings.look,
            "exposure": float(s.view_settings.exposure),
            "display_device": s.display_settings.display_device,
            "seed": int(desc.seed) % 2**31,
            "engine": "CYCLES",
            "blender_version": bpy.app.version_string,
            "resolution": [int(desc.camera.width), int(desc.camera.height)],
            "label_render": {"samples": 1, "filter_width": LABEL_FILTER_WIDTH, "denoise": False},
            "sensor": asdict(desc.sensor),
        }

    # --------------------------------------------------------------- cleanup
    def datablock_counts(self) -> dict[str, int]:
        """The length of every bpy.data collection, for leak checks: every one, not only those `clear`
        empties, so that a leak anywhere else shows."""
        d = self._bpy.data
        return {
            prop.identifier: len(getattr(d, prop.identifier))
            for prop in d.bl_rna.properties
            if prop.type == "COLLECTION"
        }

    def clear(self) -> None:
        """Remove every datablock a render created and purge orphans, so memory stays flat."""
        bpy = self._bpy
        d = bpy.data
        ids: list[Any] = []
        for coll in (d.objects, d.meshes, d.materials, d.lights, d.cameras, d.worlds, d.node_groups):
            ids.extend(coll)
        ids.extend(im for im in d.images if im.type != "RENDER_RESULT")
        if ids:
            d.batch_remove(ids)
        self.scene.camera = None
        d.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)

    def close(self) -> None:
        """Free Blender's data; the renderer cannot be used afterwards."""
        if self._closed:
            return
        self.clear()
        self._bpy.ops.wm.read_factory_settings(use_empty=True)
        self._closed = True

    def __enter__(self) -> BlenderRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _literal_path(path: Path) -> str:
    """`path` as Blender's render output path, which reads `{name}` as a path template (Blender 4.5+):
    braces in a temp or work folder (`TMPDIR=/scratch/job_{42}`) are doubled so they stay literal."""
    return str(path).replace("{", "{{").replace("}", "}}")
